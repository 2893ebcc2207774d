"""Periods of a bring-your-own time column: binning, the automatic grain, the purge over periods, the printed plan
and the errors that say what to change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.errors import TrainingError
from training.periods import MAX_VALUE_PERIODS, bin_time, parse_grain, plan_periods, time_values


def labels_for(rows: int, rate: float = 0.12, seed: int = 0) -> np.ndarray:
    """0/1 labels with about `rate` positives."""
    return (np.random.default_rng(seed).random(rows) < rate).astype(int)


def daily(days: int, per_day: int = 10, start: str = "2024-01-01") -> pd.Series:
    """`per_day` rows on each of `days` consecutive days, as ISO text (as a CSV gives them)."""
    dates = pd.date_range(start, periods=days, freq="D").strftime("%Y-%m-%d")
    return pd.Series(np.repeat(np.asarray(dates, dtype=object), per_day))


# ---- time values and grains --------------------------------------------------------------------------------------


def test_time_values_parse_iso_text_numbers_and_time_zones() -> None:
    # given ISO dates as text, numbers as text, aware timestamps and free text
    assert pd.api.types.is_datetime64_any_dtype(time_values(pd.Series(["2024-01-02", "2024-01-03"]), "t"))
    assert time_values(pd.Series(["3", "10"]), "t").tolist() == [3.0, 10.0]  # ordered as numbers, not text
    aware = pd.Series(pd.to_datetime(["2024-01-01 23:30"]).tz_localize("America/New_York"))
    assert time_values(aware, "t").iloc[0] == pd.Timestamp("2024-01-02 04:30")  # the UTC instant, naive
    assert time_values(pd.Series(["wave a", "wave b"]), "t").tolist() == ["wave a", "wave b"]


def test_time_values_refuse_missing_values_naming_the_column() -> None:
    with pytest.raises(TrainingError, match="time column 'when' has 1 missing values"):
        time_values(pd.Series([1.0, None]), "when")


@pytest.mark.parametrize(("text", "grain"), [("week", "week"), ("Month", "month"), ("12", 12), ("auto", None)])
def test_grains_are_parsed(text: str, grain: str | int | None) -> None:
    assert parse_grain(text) == grain


@pytest.mark.parametrize("text", ["fortnight", "1", "-3", "2.5"])
def test_unknown_grains_are_refused_with_the_choices(text: str) -> None:
    with pytest.raises(TrainingError, match="use day, week, month or quarter"):
        parse_grain(text)


# ---- binning -----------------------------------------------------------------------------------------------------


def test_equal_count_bins_never_split_rows_sharing_a_time() -> None:
    # given 1,000 rows whose times come in ties of 1 to 30 rows
    rng = np.random.default_rng(1)
    times = pd.Series(np.sort(np.repeat(np.arange(100.0), rng.integers(1, 30, 100)))[:1000])
    labels = labels_for(len(times))
    # when cut into 8 equal-count periods
    bins = bin_time(times, labels, 8)
    # then every time value is in one period, periods follow time, and rows and positives add up
    assert pd.Series(bins.period).groupby(times.to_numpy()).nunique().max() == 1
    assert np.all(np.diff(bins.period) >= 0)
    assert len(bins.periods) == 8 and all(p.first <= p.last for p in bins.periods)
    assert sum(p.rows for p in bins.periods) == len(times)
    assert sum(p.positives for p in bins.periods) == labels.sum()
    assert max(p.rows for p in bins.periods) < 2 * len(times) / 8  # about equal counts


def test_calendar_weeks_run_monday_to_sunday() -> None:
    # given 21 days from Wednesday 2024-01-03
    times = time_values(daily(21, per_day=2, start="2024-01-03"), "t")
    bins = bin_time(times, labels_for(len(times)), "week")
    # then the first week is Wed..Sun (5 days), then whole weeks from Monday
    assert [(p.first.date().isoformat(), p.rows) for p in bins.periods[:2]] == [("2024-01-03", 10), ("2024-01-08", 14)]
    assert bins.periods[1].last == pd.Timestamp("2024-01-14")


def test_calendar_grains_need_dates() -> None:
    with pytest.raises(TrainingError, match="needs dates"):
        bin_time(pd.Series([1.0, 2.0]), np.array([0, 1]), "month")


# ---- the automatic plan ------------------------------------------------------------------------------------------


def test_a_row_order_column_gets_the_fewest_equal_count_periods_with_one_purged() -> None:
    # given 3,000 rows whose time is the row order (each value its own period before binning)
    times, labels = pd.Series(np.arange(3000.0)), labels_for(3000)
    # when planned with 3 folds
    plan, rows = plan_periods(times, labels, column="t", cv_folds=3)
    # then 3 + 2 x 1 + 2 = 7 equal-count periods, one purged before each validation period and the holdout
    assert len(plan.periods) == 7 and plan.grain == "equal-count" and plan.gap_periods == 1
    assert len(plan.folds) == 3
    index = {p.first: i for i, p in enumerate(plan.periods)}
    for fold, (train, valid) in zip(plan.folds, rows.folds, strict=True):
        assert index[min(fold.valid_dates)] - index[max(fold.train_dates)] == 2
        assert times[train].max() < times[valid].min() - 400  # a whole period of ~430 rows between them
    assert plan.holdout_dates == (plan.periods[-1].first,)
    assert index[plan.holdout_dates[0]] - index[max(plan.final_train_dates)] == 2
    assert len(rows.holdout) == plan.periods[-1].rows == plan.holdout_rows


def test_a_daily_date_column_gets_the_coarsest_grain_that_works() -> None:
    # given two years of daily dates: 8 quarters are enough for 3 folds (7 needed)
    times = time_values(daily(731, per_day=5), "t")
    plan, _ = plan_periods(times, labels_for(len(times)), column="t", cv_folds=3)
    assert plan.grain == "by quarter" and len(plan.periods) == 8
    # and eight months of them: 3 quarters are too few, so months
    short = times[times < "2024-09-01"].reset_index(drop=True)
    plan, _ = plan_periods(short, labels_for(len(short)), column="t", cv_folds=3)
    assert plan.grain == "by month" and len(plan.periods) == 8


def test_a_coarse_time_column_keeps_one_period_per_value_without_a_gap() -> None:
    # given 8 waves (fewer than MAX_VALUE_PERIODS distinct values): the plan as before binning existed
    times = pd.Series(np.repeat(np.arange(1.0, 9.0), 100))
    plan, _ = plan_periods(times, labels_for(800), column="t", cv_folds=3)
    assert MAX_VALUE_PERIODS >= 8 and plan.grain == "one per distinct value" and plan.gap_periods == 0
    assert len(plan.periods) == 8 and plan.holdout_dates == (8.0,)


def test_the_purge_in_time_units_is_applied_to_whole_periods() -> None:
    # given row order binned into 10 periods of 300 rows and a purge of 400 units (training.purge_days)
    times, labels = pd.Series(np.arange(3000.0)), labels_for(3000)
    _, rows = plan_periods(times, labels, column="t", cv_folds=3, purge=400, grain=10, gap=0)
    # then every training row is at least 400 units before its validation period: two periods are skipped
    for train, valid in rows.folds:
        assert times[train].max() + 400 <= times[valid].min()
        assert times[valid].min() - times[train].max() < 700  # and no more is dropped than the purge needs
    assert times[rows.final_train].max() + 400 <= times[rows.holdout].min()


def test_the_plan_prints_every_period_with_its_role() -> None:
    times, labels = pd.Series(np.arange(700.0)), labels_for(700, rate=0.3)
    plan, _ = plan_periods(times, labels, column="t", cv_folds=2, grain=6, gap=1)
    text = plan.describe()
    assert "2 expanding folds over 6 periods (equal-count), purge gap 1 period" in text
    roles = [line.split()[-3:] for line in text.splitlines() if line.strip().startswith("P")]
    assert roles == [["T", "T", "T"], ["g", "T", "T"], ["V", "g", "T"], [".", "V", "T"], [".", ".", "g"],
                     [".", ".", "H"]]  # fmt: skip
    assert "P1" in text and "0" in text and "116" in text  # bounds of the first period: rows 0..116
    assert "holdout: train P1..P4" in text and "evaluate P6" in text


# ---- errors that say what to change ------------------------------------------------------------------------------


def test_a_grain_with_too_few_periods_names_a_finer_one() -> None:
    # given 90 days (3 months) asked by month: 7 periods are needed for 3 folds
    times = time_values(daily(90), "t")
    with pytest.raises(TrainingError) as error:
        plan_periods(times, labels_for(len(times)), column="t", cv_folds=3, grain="month")
    message = str(error.value)
    assert "--time-grain month gives 3 periods; need at least 7" in message
    assert "use --time-grain week (13 periods)" in message and "training.cv_folds" in message
    assert "--purge-periods 0" in message


def test_a_window_with_one_class_names_it_and_a_coarser_grain() -> None:
    # given 60 days asked by day: the holdout is the last (60 - 2 - 1) // 5 = 11 days, which hold no positive
    times = time_values(daily(60), "t")
    labels = labels_for(len(times), rate=0.3)
    labels[-110:] = 0
    with pytest.raises(TrainingError, match=r"the holdout \(P50..P60, 110 rows\) has no positive: use a coarser"
                       r" --time-grain \(week\)"):  # fmt: skip
        plan_periods(times, labels, column="t", cv_folds=3, grain="day")


def test_many_periods_make_windows_of_several_and_print_as_runs() -> None:
    # given 200 days by day with 3 folds: windows of (200 - 2 - 1) // 5 = 39 days
    times = time_values(daily(200), "t")
    plan, rows = plan_periods(times, labels_for(len(times)), column="t", cv_folds=3, grain="day")
    assert len(plan.periods) == 200 and len(plan.holdout_dates) == 39
    assert all(len(f.valid_dates) == 39 for f in plan.folds)
    assert len(rows.holdout) == 390
    # and the plan prints runs of periods with the same roles, not 200 rows
    table = [line for line in plan.describe().splitlines() if line.strip().startswith("P")]
    assert len(table) <= 10 and table[-1].split()[0] == "P162..P200" and table[-1].split()[-1] == "H"


def test_too_few_positives_for_any_grain_says_what_to_change() -> None:
    # given 2,000 rows in time order with 3 positives, all early
    labels = np.zeros(2000, dtype=int)
    labels[[5, 50, 500]] = 1
    with pytest.raises(TrainingError) as error:
        plan_periods(pd.Series(np.arange(2000.0)), labels, column="t", cv_folds=3)
    message = str(error.value)
    assert message.startswith("time column 't': no period grain gives 3 CV folds")
    assert "--time-grain 7 gives 7 periods, but fold 1's validation window (P3, 286 rows) has no positive" in message
    assert "2,000 rows and 3 positives" in message and "lower training.cv_folds" in message


def test_a_calendar_grain_on_numbers_is_refused() -> None:
    with pytest.raises(TrainingError, match="holds numbers, not dates: --time-grain week needs dates"):
        plan_periods(pd.Series(np.arange(100.0)), labels_for(100), column="t", cv_folds=2, grain="week")


def test_a_purge_that_leaves_too_few_periods_says_so() -> None:
    with pytest.raises(TrainingError, match=r"gives 8 periods, too few for a purge of 300: lower training\.purge_days"):
        plan_periods(pd.Series(np.arange(700.0)), labels_for(700, 0.3), column="t", cv_folds=3, grain=8, gap=0,
                     purge=300)  # fmt: skip
