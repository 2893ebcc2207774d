"""The progress API: steps reported to whichever sink is installed, a step block finished even when it raises, and
the generator's (stage, fraction) callback turned into one step."""

from __future__ import annotations

import pytest

from xsell import progress


class Recorder:
    """A sink that remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def start(self, key: str, description: str, total: float | None) -> None:
        self.calls.append(("start", key, description, total))

    def advance(self, key: str, amount: float = 1.0, description: str | None = None) -> None:
        self.calls.append(("advance", key, round(amount, 6), description))

    def finish(self, key: str) -> None:
        self.calls.append(("finish", key))


def test_a_step_block_starts_and_finishes_its_step() -> None:
    # given a recording sink, when a block runs as a step with an advance inside, then start, advance, finish
    sink = Recorder()
    with progress.reporting_to(sink), progress.step("publish", "publishing scores", total=2):
        progress.advance("publish")
    assert sink.calls == [
        ("start", "publish", "publishing scores", 2),
        ("advance", "publish", 1.0, None),
        ("finish", "publish"),
    ]


def test_a_step_that_raises_is_finished_and_the_error_propagates() -> None:
    # given a step whose work fails, then the step is still finished (no bar or heartbeat left behind)
    sink = Recorder()
    with progress.reporting_to(sink), pytest.raises(ValueError, match="bad"), progress.step("load", "loading"):
        raise ValueError("bad")
    assert sink.calls[-1] == ("finish", "load")


def test_fractions_turn_stage_callbacks_into_one_step() -> None:
    # given the generator's callbacks (stage, overall fraction), when they run to 1, then one step out of 1
    sink = Recorder()
    with progress.reporting_to(sink):
        report = progress.fractions("generate", "generating export")
        for stage, fraction in (("world", 0.0), ("world", 0.1), ("usage", 0.5), ("done", 1.0)):
            report(stage, fraction)
    assert sink.calls == [
        ("start", "generate", "generating export", 1.0),
        ("advance", "generate", 0.0, "generating export: world"),
        ("advance", "generate", 0.1, "generating export: world"),
        ("advance", "generate", 0.4, "generating export: usage"),
        ("advance", "generate", 0.5, "generating export: done"),
        ("finish", "generate"),
    ]


def test_without_a_sink_progress_calls_do_nothing() -> None:
    # given no sink installed, when a step runs, then nothing fails
    with progress.step("x", "nothing to show"):
        progress.advance("x")
