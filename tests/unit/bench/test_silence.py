"""bench.silence: timestamps read from log lines of both formats, gaps longest first, PASS/FAIL against the limit."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.silence import gaps, main, parse_beats, report


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_platform_and_prefect_timestamps_are_beats_and_other_lines_are_not() -> None:
    # given a platform line (whole seconds), one with milliseconds, a Prefect clock line and an untimed line
    lines = [
        "2026-12-08T01:23:06Z INFO    ingest.stage staged table table=crm/accounts",
        "2026-12-08T01:23:07.250Z INFO    flows.progress_log loading",
        "01:23:09.500 | INFO    | prefect - Starting temporary server",
        "wrote 291,184 rows",
    ]
    day_start = datetime(2026, 12, 8).timestamp()  # local midnight, as Prefect prints local time
    beats = parse_beats(lines, day_start)
    # then three beats, at their times
    assert [b.line for b in beats] == [1, 2, 3]
    assert beats[0].at == _epoch("2026-12-08T01:23:06")
    assert beats[1].at == pytest.approx(_epoch("2026-12-08T01:23:07.25"))
    assert beats[2].at == pytest.approx(day_start + 1 * 3600 + 23 * 60 + 9.5)


def test_gaps_come_longest_first() -> None:
    # given beats at 0, 2 and 14 s (out of order), then the 12 s gap comes first
    lines = [
        "2026-12-08T00:00:14Z INFO a c",
        "2026-12-08T00:00:00Z INFO a a",
        "2026-12-08T00:00:02Z INFO a b",
    ]
    found = gaps(parse_beats(lines, 0.0))
    assert [g.seconds for g in found] == [12.0, 2.0]
    assert found[0].before.text.endswith("a b") and found[0].after.text.endswith("a c")


def test_a_log_silent_past_the_limit_fails_and_one_within_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a log with a 12 s silence between its lines
    log = tmp_path / "stderr.log"
    log.write_text("2026-12-08T00:00:01Z INFO a start\n2026-12-08T00:00:13Z INFO a end\n")
    started, ended = _epoch("2026-12-08T00:00:00"), _epoch("2026-12-08T00:00:14")
    # when judged against 10 s it fails, against 15 s it passes, and the gap is printed with its lines
    assert report(log, started, ended, limit=10.0, top=5) is False
    assert "12.0 s silent after line 1" in capsys.readouterr().out
    assert report(log, started, ended, limit=15.0, top=5) is True
    assert "PASS: longest silence 12.0 s" in capsys.readouterr().out


def test_a_command_is_run_with_stderr_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # given a command that logs two lines one after the other, then it passes and its exit code counts
    script = "import sys, datetime; t=datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ'); "
    script += "sys.stderr.write(t + ' INFO x one\\n' + t + ' INFO x two\\n'); sys.exit(int(sys.argv[1]))"
    log = tmp_path / "err.log"
    assert main(["--log", str(log), "--limit", "5", "--", sys.executable, "-c", script, "0"]) == 0
    assert log.read_text().count(" INFO x ") == 2
    assert "PASS" in capsys.readouterr().out
    # and a failing command fails the bench even when its log is never silent
    assert main(["--log", str(log), "--limit", "5", "--", sys.executable, "-c", script, "3"]) == 1
    assert "the command failed (exit 3)" in capsys.readouterr().out
