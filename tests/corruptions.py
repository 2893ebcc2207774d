"""Corruptions of a raw export for the bad-input catalogue: each edits one file of a copy of a generated export.

A row picked for a value-level corruption is a clean one (unique, its id known to the CRM and already trimmed and
upper-case), so that the corruption is the only thing that can move the data-quality counts.
"""

from __future__ import annotations

import gzip
import os
import random
from collections.abc import Callable
from pathlib import Path

import pandas as pd

NPS = "survey/nps"
SUBSCRIPTIONS = "billing/subscriptions"
TICKETS = "support/tickets"
ACCOUNTS = "crm/accounts"
USAGE = "product/usage_daily"
PRODUCTS = "catalog/products.csv"


def csv_files(raw: Path, table: str) -> list[Path]:
    """The CSV parts (.csv or .csv.gz) of a table folder, sorted."""
    return sorted(p for p in (raw / table).iterdir() if p.name.endswith((".csv", ".csv.gz")))


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV part as written: every value a string, empty cells empty strings."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, compression="infer")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV part back in place (gzip-compressed when the name says so)."""
    text = frame.to_csv(index=False)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")


def known_ids(raw: Path, column: str) -> set[str]:
    """Every trimmed, upper-cased value of a `crm/accounts` column across its extracts."""
    values: set[str] = set()
    for path in csv_files(raw, ACCOUNTS):
        values.update(v.strip().upper() for v in read_csv(path)[column] if v.strip())
    return values


def clean_row(frame: pd.DataFrame, key: str, known: set[str]) -> int:
    """Index of the first row that is unique and whose `key` is known and spelt as most rows spell it."""
    normal = frame[key].str.strip().str.upper()
    usual = frame[key].groupby(normal).agg(lambda spellings: spellings.mode().iloc[0])
    ok = normal.isin(known) & (frame[key] == normal.map(usual)) & ~frame.duplicated(keep=False)
    return int(ok.idxmax()) if ok.any() else _missing(key)


def _missing(key: str) -> int:
    raise AssertionError(f"no clean row with a known {key}")


def edit_nps(raw: Path, column: str, value: str) -> None:
    """Set one clean NPS response's `column` to `value`."""
    path = csv_files(raw, NPS)[0]
    frame = read_csv(path)
    row = clean_row(frame, "account_id", known_ids(raw, "account_id"))
    frame.loc[row, column] = value
    write_csv(frame, path)


def edit_subscription(raw: Path, column: str, value: str) -> None:
    """Set one clean, non-trial subscription item's `column` to `value`."""
    path = csv_files(raw, SUBSCRIPTIONS)[0]
    frame = read_csv(path)
    paid = frame[frame["is_trial"] == "false"]
    row = clean_row(paid, "customer_id", known_ids(raw, "billing_customer_id"))
    frame.loc[row, column] = value
    write_csv(frame, path)


def nps_id_mangled(raw: Path) -> None:
    """One clean NPS response's account id arrives lower-case with stray whitespace."""
    path = csv_files(raw, NPS)[0]
    frame = read_csv(path)
    row = clean_row(frame, "account_id", known_ids(raw, "account_id"))
    frame.loc[row, "account_id"] = f"  {frame.loc[row, 'account_id'].swapcase()} "
    write_csv(frame, path)


def negative_event_count(raw: Path) -> None:
    """One clean usage row of a known workspace gets `event_count = -3`."""
    path = sorted((raw / USAGE).glob("*.parquet"))[0]
    frame = pd.read_parquet(path)
    row = clean_row(frame.astype({"workspace_id": str}), "workspace_id", known_ids(raw, "workspace_id"))
    frame.loc[row, "event_count"] = -3
    frame.to_parquet(path, index=False)


def all_nps_orphans(raw: Path) -> None:
    """Every NPS response names an account the CRM does not know."""
    for path in csv_files(raw, NPS):
        frame = read_csv(path)
        frame["account_id"] = [f"001NOSUCHACCOUNT{i:04d}" for i in range(len(frame))]
        write_csv(frame, path)


def set_kind(product: str, kind: str) -> Callable[[Path], None]:
    """A corruption setting a catalogue product's kind."""

    def corrupt(raw: Path) -> None:
        frame = read_csv(raw / PRODUCTS)
        frame.loc[frame["product"] == product, "kind"] = kind
        write_csv(frame, raw / PRODUCTS)

    return corrupt


def duplicate_header(raw: Path) -> None:
    """The NPS file repeats its `score` column (each row with a second score)."""
    path = csv_files(raw, NPS)[0]
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0] + ",score"] + [line + ",3" for line in lines[1:]]) + "\n", encoding="utf-8")


def drop_column(raw: Path) -> None:
    """The NPS file lacks its required `score` column."""
    path = csv_files(raw, NPS)[0]
    write_csv(read_csv(path).drop(columns=["score"]), path)


def extra_column(raw: Path) -> None:
    """The NPS file carries a column the contract does not know: `colour`."""
    path = csv_files(raw, NPS)[0]
    write_csv(read_csv(path).assign(colour="blue"), path)


def semicolons(raw: Path) -> None:
    """The NPS file is written with `;` instead of `,`."""
    path = csv_files(raw, NPS)[0]
    path.write_text(read_csv(path).to_csv(index=False, sep=";"), encoding="utf-8")


def empty_file(raw: Path) -> None:
    """The NPS file is empty: not even a header."""
    csv_files(raw, NPS)[0].write_bytes(b"")


def header_only_part(raw: Path) -> None:
    """A second NPS part that holds only the header."""
    (raw / NPS / "nps_header_only.csv").write_text("response_id,account_id,submitted_at,score\n", encoding="utf-8")


def binary_csv(raw: Path) -> None:
    """The NPS file holds random bytes under its `.csv` name."""
    csv_files(raw, NPS)[0].write_bytes(random.Random(13).randbytes(8192))


def truncated_gzip(raw: Path) -> None:
    """The gzip-compressed subscriptions part is cut in half."""
    path = csv_files(raw, SUBSCRIPTIONS)[0]
    assert path.name.endswith(".gz"), path
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def long_line(line: int, size: int = 10 * 1024 * 1024) -> Callable[[Path], None]:
    """A corruption putting a `size`-byte ticket row at file line `line` (the header is line 1)."""

    def corrupt(raw: Path) -> None:
        path = csv_files(raw, TICKETS)[0]
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) > line, (path, len(lines))
        long = "TCK-9999999,001UXTY6FBB9TRGEAW,2025-01-07T15:34:38+00:00,,low,bug,," + "x" * size
        lines.insert(line - 1, long)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    return corrupt


def latin1_name(raw: Path) -> None:
    """One account extract is written in Latin-1 with an accented account name."""
    path = next(p for p in csv_files(raw, ACCOUNTS) if p.suffix == ".csv")
    frame = read_csv(path)
    frame.loc[0, "account_name"] = "Café Müller Gåsø"
    path.write_bytes(frame.to_csv(index=False).encode("latin-1"))


def looping_symlink(raw: Path) -> None:
    """A `.csv` symlink in the NPS folder that points at itself."""
    os.symlink("loop.csv", raw / NPS / "loop.csv")


def dangling_symlink(raw: Path) -> None:
    """A `.csv` symlink in the NPS folder whose target does not exist."""
    os.symlink("gone-away.csv", raw / NPS / "ghost.csv")


def subfolder(raw: Path) -> None:
    """A subfolder holding an older NPS part inside the NPS table folder."""
    path = csv_files(raw, NPS)[0]
    (raw / NPS / "archive").mkdir()
    (raw / NPS / "archive" / "nps_old.csv").write_bytes(path.read_bytes())


def not_yaml(path: Path) -> Path:
    """A config file that is not YAML."""
    path.write_bytes(b"training: [trials: 3\n  : : {\n" + bytes(range(0, 32)))
    return path


def unknown_key_yaml(path: Path) -> Path:
    """A YAML config with a misspelt section."""
    path.write_text("trainnig:\n  trials: 3\n", encoding="utf-8")
    return path
