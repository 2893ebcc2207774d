"""Id shapes of the sample export, drawn vectorised and unique (account `001...`, `cus_...`, `ws_...`)."""

from __future__ import annotations

import numpy as np

UPPER_ALNUM = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
LOWER_ALNUM = b"abcdefghijklmnopqrstuvwxyz0123456789"
HEX = b"0123456789abcdef"

#: (prefix, alphabet, random characters) of every id the generator makes.
ID_SHAPES: dict[str, tuple[str, bytes, int]] = {
    "account": ("001", UPPER_ALNUM, 15),
    "customer": ("cus_", LOWER_ALNUM, 14),
    "workspace": ("ws_", HEX, 12),
    "opportunity": ("006", UPPER_ALNUM, 15),
    "subscription_item": ("si_", LOWER_ALNUM, 14),
    "invoice": ("in_", LOWER_ALNUM, 14),
    "response": ("resp_", LOWER_ALNUM, 12),
    "touch": ("tch_", LOWER_ALNUM, 14),
}


def random_strings(rng: np.random.Generator, n: int, prefix: str, alphabet: bytes, width: int) -> np.ndarray:
    """n random strings `prefix + width characters of alphabet` (object array; may repeat)."""
    table = np.frombuffer(alphabet, dtype=np.uint8)
    codes = table[rng.integers(0, len(table), size=(n, width))]
    body = np.ascontiguousarray(codes).view(f"S{width}").ravel().astype(f"U{width}")
    return np.char.add(prefix, body).astype(object)


def new_ids(rng: np.random.Generator, kind: str, n: int, taken: set[str] | None = None) -> np.ndarray:
    """n distinct ids of the given kind, none of them (compared case-insensitively) in `taken`.

    `taken` is updated with the new ids (upper-cased), so successive calls never collide.
    """
    prefix, alphabet, width = ID_SHAPES[kind]
    taken = taken if taken is not None else set()
    out: list[str] = []
    while len(out) < n:
        for value in random_strings(rng, (n - len(out)) * 2 + 4, prefix, alphabet, width):
            key = value.upper()
            if key in taken:
                continue
            taken.add(key)
            out.append(value)
            if len(out) == n:
                break
    return np.array(out, dtype=object)


_MASK40 = (1 << 40) - 1


def user_ids(account: np.ndarray, user: np.ndarray, salt: int) -> np.ndarray:
    """`usr_` + 10 hex digits for (account index, user index), a bijection so ids never collide.

    Works for account indices below 2**26 and user indices below 2**14.
    """
    x = (account.astype(np.uint64) << np.uint64(14)) | user.astype(np.uint64)
    x = _permute40(x, salt)
    shifts = np.arange(36, -1, -4, dtype=np.uint64)
    digits = ((x[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.uint8)
    codes = np.frombuffer(HEX, dtype=np.uint8)[digits]
    body = np.ascontiguousarray(codes).view("S10").ravel()
    return np.char.add(b"usr_", body)


def _permute40(x: np.ndarray, salt: int) -> np.ndarray:
    """A keyed bijection on 40-bit integers (xor-shift and odd multiply rounds modulo 2**40)."""
    mask = np.uint64(_MASK40)
    x = (x ^ np.uint64(salt & _MASK40)) & mask
    for mult in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB):
        x = (x * np.uint64(mult | 1)) & mask
        x ^= x >> np.uint64(19)
    return x
