"""Progress as log lines when stderr is not a terminal: start, throttled advances with rate and ETA, finish with
its duration, a heartbeat for steps that do not advance; and the CLI choosing that sink."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from flows import console
from flows.console import showing_progress
from flows.context import loading, start_prefect_api
from flows.progress_log import LogSink, count_text, duration
from xsell import progress
from xsell.settings import load_settings


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Lines:
    """The progress lines logged so far."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def __getitem__(self, index: int) -> str:
        return self.all()[index]

    def __len__(self) -> int:
        return len(self.all())

    def __eq__(self, other: object) -> bool:
        return self.all() == other

    def all(self) -> list[str]:
        return [r.getMessage() for r in self._caplog.records if r.name == "flows.progress_log"]


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Lines:
    caplog.set_level(logging.INFO, logger="flows.progress_log")
    return Lines(caplog)


def test_a_step_logs_its_start_throttled_progress_with_eta_and_its_finish_with_duration(lines: Lines) -> None:
    # given a log sink on a fake clock, when a 30-snapshot step advances once a second for 30 seconds
    clock = FakeClock()
    sink = LogSink(every=5.0, clock=clock)
    sink.start("features", "building feature snapshots", total=30)
    for _ in range(30):
        clock.now += 1.0
        sink.advance("features", description="snapshot 2025-01-31")
    sink.finish("features")
    # then one start line, one line each 5 s (not one per advance), and one finish line with the duration
    assert lines[0] == "building feature snapshots: 0/30 ..."
    assert lines[1] == ("building feature snapshots: 5/30, 5.0 s so far, 1.00/s, ETA 25.0 s (snapshot 2025-01-31)")
    assert len(lines) == 1 + 6 + 1
    assert lines[-1] == "building feature snapshots: 30/30 in 30.0 s"


def test_a_fraction_step_shows_a_percentage_and_eta(lines: Lines) -> None:
    # given a step measured as a fraction of 1 (the generator's), when a quarter is done after 6 s
    clock = FakeClock()
    sink = LogSink(every=5.0, clock=clock)
    sink.start("generate", "generating export", total=1.0)
    clock.now += 6.0
    sink.advance("generate", 0.25, description="generating export: usage")
    sink.finish("generate")
    # then the line gives the share and the time left at that pace
    assert lines == [
        "generating export ...",
        "generating export: 25%, 6.0 s so far, ETA 18.0 s (generating export: usage)",
        "generating export in 6.0 s",
    ]


def test_a_quiet_step_is_reported_by_the_heartbeat_and_finished_steps_are_not(lines: Lines) -> None:
    # given a step without a total that never advances (one long query)
    clock = FakeClock()
    sink = LogSink(every=5.0, clock=clock)
    sink.start("load", "consolidating warehouse", total=None)
    # when the heartbeat ticks before and after 5 s, then only the later tick logs
    clock.now += 4.0
    sink.tick()
    assert lines == ["consolidating warehouse ..."]
    clock.now += 1.5
    sink.tick()
    assert lines[-1] == "consolidating warehouse: 5.5 s so far"
    # and once finished, ticks log nothing more
    sink.finish("load")
    clock.now += 60.0
    sink.tick()
    assert lines[-1] == "consolidating warehouse in 5.5 s"


def test_nested_steps_are_independent_and_unknown_keys_are_ignored(lines: Lines) -> None:
    # given an outer step and an inner one, when the inner one finishes first
    clock = FakeClock()
    sink = LogSink(every=5.0, clock=clock)
    sink.start("train", "training", total=None)
    clock.now += 1.0
    sink.start("train.fit", "final fit", total=None)
    clock.now += 2.0
    sink.finish("train.fit")
    sink.advance("never-started")
    sink.finish("never-started")
    clock.now += 1.0
    sink.finish("train")
    # then each logs its own duration; the unknown key adds nothing
    assert lines == ["training ...", "final fit ...", "final fit in 2.0 s", "training in 4.0 s"]


def test_parallel_threads_advance_one_step_without_losing_counts(lines: Lines) -> None:
    # given 8 threads advancing one step 500 times each (Optuna trials in threads)
    sink = LogSink(every=3600.0)
    sink.start("tuning", "tuning", total=4000)

    def work() -> None:
        for _ in range(500):
            sink.advance("tuning")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.finish("tuning")
    # then the finish line counts every unit
    assert lines[-1].startswith("tuning: 4,000/4,000 in ")


def test_the_heartbeat_thread_stops_with_its_block() -> None:
    # given a running heartbeat, when its block ends, then its thread is gone
    sink = LogSink()
    with sink.heartbeat(interval=0.01):
        assert any(t.name == "progress-heartbeat" for t in threading.enumerate())
    assert not any(t.name == "progress-heartbeat" for t in threading.enumerate())


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.42, "0.4 s"), (12.34, "12.3 s"), (125.0, "2 min 05 s"), (3600.0, "60 min 00 s")]
)
def test_durations_read_naturally(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("done", "total", "text"), [(12, 30, "12/30"), (0.45, 1.0, "45%"), (1500, None, "1,500"), (0, 0.0, "100%")]
)
def test_amounts_read_as_counts_or_shares(done: float, total: float | None, text: str) -> None:
    assert count_text(done, total) == text


def test_off_a_terminal_the_cli_logs_progress(lines: Lines, monkeypatch: pytest.MonkeyPatch) -> None:
    # given stderr that is not a terminal, when a step runs under the CLI's progress display, then it is logged
    monkeypatch.setattr(console.sys.stderr, "isatty", lambda: False)
    with showing_progress(True), progress.step("publish", "publishing scores"):
        pass
    assert lines[0] == "publishing scores ..."
    assert lines[1].startswith("publishing scores in ")


def test_progress_turned_off_logs_nothing(lines: Lines, monkeypatch: pytest.MonkeyPatch) -> None:
    # given --no-progress, when a step runs, then no progress line is logged
    monkeypatch.setattr(console.sys.stderr, "isatty", lambda: False)
    with showing_progress(False), progress.step("publish", "publishing scores"):
        pass
    assert lines == []


def test_only_the_keys_asked_for_are_shown(lines: Lines, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a display of the replay's months only, when an inner step runs too, then only the month step is logged
    monkeypatch.setattr(console.sys.stderr, "isatty", lambda: False)
    month = progress.step("month", "replaying 2025-01..2025-03", total=3)
    with showing_progress(True, only={"month"}), month, progress.step("score.publish", "publishing scores"):
        pass
    assert [line.split(" in ")[0] for line in lines.all()] == [
        "replaying 2025-01..2025-03: 0/3 ...",
        "replaying 2025-01..2025-03: 3/3",
    ]


class Steps:
    """A sink remembering the steps started and finished."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def start(self, key: str, description: str, total: float | None) -> None:
        self.seen.append(("start", description))

    def advance(self, key: str, amount: float = 1.0, description: str | None = None) -> None:
        return None

    def finish(self, key: str) -> None:
        self.seen.append(("finish", key))


def test_prefect_api_is_not_started_when_one_is_configured() -> None:
    # given a configured Prefect API, when the CLI would start the temporary one, then no step runs
    from prefect.settings import PREFECT_API_URL, temporary_settings

    sink = Steps()
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}), progress.reporting_to(sink):
        start_prefect_api()
    assert sink.seen == []


@pytest.mark.slow
def test_prefect_api_start_is_a_step_and_runs_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # given no configured API, when the temporary API is started twice, then it is one step and it answers
    import httpx
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_HOME,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    sink = Steps()
    busy = {PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 180}  # as xsell.runtime sets it for a busy 2-core box
    with temporary_settings({PREFECT_API_URL: None, PREFECT_HOME: tmp_path, **busy}), progress.reporting_to(sink):
        try:
            start_prefect_api()
            start_prefect_api()
            server = SubprocessASGIServer()
            assert httpx.get(f"{server.api_url}/health", timeout=10).status_code == 200
        finally:
            SubprocessASGIServer().stop()
    assert sink.seen == [("start", "starting Prefect's temporary API"), ("finish", "prefect")] * 2


def test_loading_a_commands_flows_is_a_logged_step(lines: Lines, monkeypatch: pytest.MonkeyPatch) -> None:
    # given stderr off a terminal, when a command loads its flows, then the load is logged with its duration
    monkeypatch.setattr(console.sys.stderr, "isatty", lambda: False)
    with loading(load_settings(None), "the pipeline"):
        pass
    assert lines[0] == "loading the pipeline ..."
    assert lines[1].startswith("loading the pipeline in ")
