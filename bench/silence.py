"""How long a command leaves its log silent: the longest gaps between timestamped lines when stderr is a file.

    python -m bench.silence                          # xsell --home TMP demo --trials 5 --accounts 300
    python -m bench.silence --limit 10 -- xsell --home /tmp/h demo   # any command after `--`

The command runs with stderr written to a file (not a terminal: no progress bars, only log lines), stdout discarded.
Every line starting with a timestamp (the platform's `2026-12-08T01:23:06Z` or `...06.123Z`, or Prefect's
`01:23:06.123 |`) is a beat; the start and the end of the command are beats too. The longest gaps between beats are
printed with the lines around them, then PASS or FAIL against the limit (a person reading the log should never wait
longer than that without a line). Log timestamps with whole seconds make each gap exact to within one second.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["Beat", "Gap", "gaps", "main", "parse_beats"]

#: The platform's log timestamp (`xsell.logs`), with or without fractions of a second.
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?\s")
#: Prefect's console format: `01:23:06.123 | INFO    | ...` (today's date, local time).
_CLOCK = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(\.\d+)?\s+\|")


@dataclass(frozen=True)
class Beat:
    """One timestamped line of the log (or the start or end of the command): seconds since the epoch and its text."""

    at: float
    line: int
    text: str


@dataclass(frozen=True)
class Gap:
    """A silence in the log: the beats before and after it."""

    before: Beat
    after: Beat

    @property
    def seconds(self) -> float:
        """How long the log was silent."""
        return self.after.at - self.before.at


def parse_beats(lines: list[str], day_start: float) -> list[Beat]:
    """The timestamped lines among `lines` (Prefect's clock-only stamps are read on the day starting at `day_start`,
    in local time)."""
    beats: list[Beat] = []
    for number, text in enumerate(lines, start=1):
        iso = _ISO.match(text)
        if iso:
            day, clock, fraction, zone = iso.groups()
            stamp = datetime.fromisoformat(f"{day}T{clock}{fraction or ''}{'+00:00' if zone in (None, 'Z') else zone}")
            beats.append(Beat(stamp.astimezone(UTC).timestamp(), number, text.rstrip()))
            continue
        clock_only = _CLOCK.match(text)
        if clock_only:
            hours, minutes, seconds, fraction = clock_only.groups()
            at = day_start + int(hours) * 3600 + int(minutes) * 60 + int(seconds) + float(fraction or 0)
            beats.append(Beat(at, number, text.rstrip()))
    return beats


def gaps(beats: list[Beat]) -> list[Gap]:
    """The gaps between consecutive beats (ordered by time), longest first."""
    ordered = sorted(beats, key=lambda b: b.at)
    found = [Gap(a, b) for a, b in itertools.pairwise(ordered)]
    return sorted(found, key=lambda g: g.seconds, reverse=True)


def run_logged(argv: list[str], log: Path) -> tuple[float, float, int]:
    """Run `argv` with stderr to `log` and stdout discarded; its start and end (epoch seconds) and exit code."""
    with log.open("w") as err:
        started = time.time()
        code = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=err, check=False).returncode
        ended = time.time()
    return started, ended, code


def _local_midnight(at: float) -> float:
    local = datetime.fromtimestamp(at)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def report(log: Path, started: float, ended: float, limit: float, top: int) -> bool:
    """Print the `top` longest silences of the log between `started` and `ended`; True when none exceeds `limit`."""
    lines = log.read_text(errors="replace").splitlines()
    beats = parse_beats(lines, _local_midnight(started))
    # whole-second stamps are floored: the start is floored too, so the first gap is not undercounted by the rounding
    edges = [Beat(float(int(started)), 0, "(command started)"), Beat(ended, len(lines) + 1, "(command ended)")]
    found = gaps(beats + edges)
    print(f"{len(lines)} log lines, {len(beats)} timestamped, over {ended - started:.1f} s ({log})")
    for gap in found[:top]:
        print(f"\n{gap.seconds:5.1f} s silent after line {gap.before.line}:")
        print(f"    {gap.before.text[:160]}")
        print(f"    {gap.after.text[:160]}")
    worst = found[0].seconds if found else ended - started
    passed = worst <= limit
    print(f"\n{'PASS' if passed else 'FAIL'}: longest silence {worst:.1f} s (limit {limit:.0f} s)")
    return passed


def main(argv: list[str] | None = None) -> int:
    """Run the command, print its longest silences; exit 0 on PASS, 1 on FAIL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=10.0, help="Longest acceptable silence, seconds.")
    parser.add_argument("--top", type=int, default=5, help="How many of the longest silences to print.")
    parser.add_argument("--log", type=Path, default=None, help="Where to write the command's stderr.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary home of the default command.")
    parser.add_argument("command", nargs="*", help="The command to run (after `--`); default: a small demo.")
    args = parser.parse_args(argv)
    scratch = tempfile.mkdtemp(prefix="xsell-silence-")
    try:
        command = args.command or [
            str(Path(sys.executable).with_name("xsell")),
            "--home",
            str(Path(scratch) / "home"),
            "demo",
            "--trials",
            "5",
            "--accounts",
            "300",
        ]
        log = args.log or Path(scratch) / "stderr.log"
        print("running: " + " ".join(command), flush=True)
        started, ended, code = run_logged(command, log)
        passed = report(log, started, ended, args.limit, args.top)
        if code != 0:
            print(f"the command failed (exit {code}); its log: {log}")
            return 1
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
