"""The drift reference cache: built once per key and read afterwards, another key (version, data, feature code,
dates, sample) is another file, the cache can be switched off, and a broken file is named."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from monitoring.errors import MonitoringError
from monitoring.reference import ReferenceKey, cached_reference, reference_dir
from xsell.settings import Settings, load_settings

KEY = ReferenceKey("xsell", 3, "run-1", "hash-a", "code-a", (date(2025, 1, 31), date(2025, 2, 28)), 5_000, 42)
COLUMNS = ["product", "seats", "segment", "propensity"]


def rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product": ["a", "b", "a"],
            "seats": pd.array([1, None, 3], dtype="Int64"),
            "segment": ["smb", None, "enterprise"],
            "propensity": [0.1, 0.2, 0.3],
            "unused": [1, 2, 3],
        }
    )


class Builder:
    """Counts the builds it was asked for."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> tuple[pd.DataFrame, int]:
        self.calls += 1
        return rows(), 30


@pytest.fixture
def home_settings(tmp_path: Path) -> Settings:
    return load_settings(home=tmp_path / "home")


def test_reference_is_built_once_then_read(home_settings: Settings) -> None:
    build = Builder()
    first, total, cached = cached_reference(home_settings, KEY, COLUMNS, build)
    again, total_again, cached_again = cached_reference(home_settings, KEY, COLUMNS, build)
    assert (build.calls, cached, cached_again, total, total_again) == (1, False, True, 30, 30)
    pd.testing.assert_frame_equal(first, again)
    assert list(again.columns) == COLUMNS and str(again["seats"].dtype) == "Int64"
    files = list(reference_dir(home_settings).iterdir())
    assert [f.name for f in files] == [KEY.file_name()] and KEY.file_name().startswith("xsell-v3-")


@pytest.mark.parametrize(
    "change",
    [
        {"version": 4},
        {"run_id": "run-2"},
        {"data_hash": "hash-b"},
        {"feature_code": "code-b"},
        {"dates": (date(2025, 1, 31),)},
        {"rows": 0},
        {"seed": 1},
    ],
)
def test_a_changed_key_builds_again(home_settings: Settings, change: dict[str, object]) -> None:
    build = Builder()
    cached_reference(home_settings, KEY, COLUMNS, build)
    other = replace(KEY, **change)  # type: ignore[arg-type]
    assert other.file_name() != KEY.file_name()
    _, _, cached = cached_reference(home_settings, other, COLUMNS, build)
    assert build.calls == 2 and not cached


def test_cache_off_always_builds_and_stores_nothing(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home", **{"monitoring.drift.reference_cache": False})
    build = Builder()
    cached_reference(settings, KEY, COLUMNS, build)
    cached_reference(settings, KEY, COLUMNS, build)
    assert build.calls == 2 and not reference_dir(settings).exists()


def test_a_broken_or_incomplete_file_is_named(home_settings: Settings) -> None:
    path = reference_dir(home_settings) / KEY.file_name()
    path.parent.mkdir(parents=True)
    path.write_text("not parquet")
    with pytest.raises(MonitoringError, match=r"cached drift reference cannot be read .*: delete it"):
        cached_reference(home_settings, KEY, COLUMNS, Builder())
    path.unlink()
    cached_reference(home_settings, KEY, COLUMNS, Builder())
    with pytest.raises(MonitoringError, match=r"lacks columns \['region'\]"):
        cached_reference(home_settings, KEY, [*COLUMNS, "region"], Builder())
