"""Snapshot rows on the hand-made scenario: eligibility, point-in-time state, labels and every family."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from features import build
from features.build import SnapshotReader, build_snapshot, primary_product, snapshot_sql
from features.errors import FeatureError
from features.store import connect_warehouse, warehouse
from tests.factories import ACCOUNT
from tests.unit.features.conftest import with_features
from xsell.settings import Settings, load_settings

ALPHA, BRAVO, CHARLIE, DELTA = (ACCOUNT[k] for k in ("alpha", "bravo", "charlie", "delta"))


@pytest.fixture(scope="module")
def con(scenario_settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect_warehouse(scenario_settings, read_only=True)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def snap(con: duckdb.DuckDBPyConnection, scenario_settings: Settings):
    cache: dict[tuple[str, tuple[tuple[str, object], ...]], pd.DataFrame] = {}

    def build(day: str, **features: object) -> pd.DataFrame:
        key = (day, tuple(sorted(features.items())))
        if key not in cache:
            settings = with_features(scenario_settings, **features) if features else scenario_settings
            cache[key] = build_snapshot(con, date.fromisoformat(day), settings)
        return cache[key]

    return build


def pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["account_id"], frame["product"], strict=True))


def row(frame: pd.DataFrame, account: str, product: str) -> pd.Series:
    match = frame[(frame["account_id"] == account) & (frame["product"] == product)]
    assert len(match) == 1, (account, product)
    return match.iloc[0]


# ---- eligibility ---------------------------------------------------------------------------------


def test_eligible_pairs_exclude_owned_churned_and_tier_gated_products(snap) -> None:
    # alpha owns analytics (bought 2026-01-10); charlie owned it in 2025 (a churned buyer never converts);
    # security needs the enterprise tier (charlie only); delta's primary ended 2025-09-01
    assert pairs(snap("2026-03-31")) == {
        (ALPHA, "automation"),
        (BRAVO, "analytics"),
        (BRAVO, "automation"),
        (CHARLIE, "automation"),
        (CHARLIE, "security"),
    }


def test_prerequisite_gate_is_optional(snap) -> None:
    gated = snap("2026-03-31", require_prerequisite=True)
    assert pairs(gated) == {(ALPHA, "automation"), (BRAVO, "analytics"), (CHARLIE, "security")}
    assert row(snap("2026-03-31"), ALPHA, "automation")["prerequisite_owned"] == 1
    assert row(snap("2026-03-31"), CHARLIE, "automation")["prerequisite_owned"] == 0
    assert row(snap("2026-03-31"), BRAVO, "analytics")["prerequisite_owned"] == 1  # no prerequisite


def test_account_state_is_the_latest_version_updated_before_t(snap) -> None:
    # every first extract is stamped 2025-06-30 10:00: the day before, only alpha's older version is known
    assert {a for a, _ in pairs(snap("2025-06-29"))} == {ALPHA}
    assert {a for a, _ in pairs(snap("2025-06-30"))} == {ALPHA, CHARLIE, DELTA}
    # alpha's second version (2026-01-15 08:00 UTC) changes segment and head count from that day on
    before, after = row(snap("2026-01-14"), ALPHA, "automation"), row(snap("2026-01-15"), ALPHA, "automation")
    assert (before["segment"], before["employee_count"]) == ("smb", 50)
    assert (after["segment"], after["employee_count"]) == ("mid_market", 60)


def test_billing_ids_resolve_only_through_versions_known_at_t(snap) -> None:
    # bravo's billing customer id first appears in its version of 2026-02-01 12:00
    assert BRAVO not in {a for a, _ in pairs(snap("2026-01-31"))}
    assert {p for a, p in pairs(snap("2026-02-28")) if a == BRAVO} == {"analytics", "automation"}


# ---- labels --------------------------------------------------------------------------------------


def test_label_is_first_purchase_within_the_horizon(snap) -> None:
    frame = snap("2025-12-31")  # D + 90 days = 2026-03-31 = data end: labelled
    labels = {(a, p): int(v) for a, p, v in zip(frame["account_id"], frame["product"], frame["label"], strict=True)}
    assert labels == {
        (ALPHA, "analytics"): 1,
        (ALPHA, "automation"): 0,
        (CHARLIE, "automation"): 0,
        (CHARLIE, "security"): 0,
    }
    assert row(snap("2025-12-31", horizon_days=30), ALPHA, "analytics")["label"] == 1
    assert row(snap("2025-12-31", horizon_days=5), ALPHA, "analytics")["label"] == 0


def test_rows_whose_horizon_passes_the_data_end_are_unlabelled(snap) -> None:
    assert snap("2026-01-09")["label"].isna().all()
    assert snap("2026-01-09", data_end="2026-06-30")["label"].notna().all()


# ---- feature families ----------------------------------------------------------------------------


def test_usage_counts_only_rows_ingested_before_t(snap) -> None:
    # alpha's row of 2026-03-28 reached the warehouse on 2026-03-31 10:00: unknown at the end of 2026-03-30
    early, late = row(snap("2026-03-30"), ALPHA, "automation"), row(snap("2026-03-31"), ALPHA, "automation")
    assert (early["events_30d"], early["active_users_30d"], early["active_days_30d"]) == (14, 1, 2)
    assert (late["events_30d"], late["active_users_30d"], late["active_days_30d"]) == (31, 2, 4)


def test_adoption_depth(snap) -> None:
    frame = snap("2026-03-31")
    alpha, bravo, charlie = (row(frame, a, "automation") for a in (ALPHA, BRAVO, CHARLIE))
    # tier features: starter {projects}; professional + {reports, webhooks}; enterprise + {sso}
    assert alpha["feature_share_30d"] == pytest.approx(2 / 3)
    assert bravo["feature_share_30d"] == pytest.approx(1.0)  # reports is above bravo's tier: not counted
    assert charlie["feature_share_30d"] == pytest.approx(0.5)
    assert (alpha["seats"], alpha["seat_activation_30d"]) == (10, pytest.approx(0.2))
    assert alpha["dau_mau_30d"] == pytest.approx((4 / 30) / 2)  # 4 user-days, 2 users
    assert alpha["days_since_last_use"] == 0
    assert alpha["tenure_months"] == pytest.approx((date(2026, 3, 31) - date(2024, 1, 1)).days / 30.4375)


def test_use_case_fit(snap) -> None:
    frame = snap("2026-03-31")
    analytics, automation = row(frame, BRAVO, "analytics"), row(frame, BRAVO, "automation")
    # reports signals analytics: 3 days x 4 events by one user
    assert (analytics["signal_events_30d"], analytics["signal_users_30d"]) == (12, 1)
    assert analytics["signal_events_share_30d"] == pytest.approx(12 / 21)
    assert (analytics["trial_active"], analytics["trials_total"]) == (1, 1)
    assert (analytics["touches_sent_90d"], analytics["opportunity_open"]) == (1, 1)
    # the holdout row records an assignment only; the click counts
    assert (automation["touches_sent_90d"], automation["touches_clicked_90d"]) == (0, 1)
    assert (automation["opportunity_open"], automation["opportunities_lost_365d"]) == (0, 1)
    # the opportunity closed on 2026-02-20 was open at the end of 2026-02-19
    assert row(snap("2026-02-19"), BRAVO, "automation")["opportunity_open"] == 1
    assert row(snap("2026-01-09"), ALPHA, "analytics")["feature_requests_90d"] == 1


def test_relationship_health_rolls_later_events_back(snap) -> None:
    # charlie: invoice of 2025-10-01 paid 2026-01-15; invoice of 2025-10-05 uncollectible (known 60 days on)
    mid_nov, mid_dec = row(snap("2025-11-15"), CHARLIE, "security"), row(snap("2025-12-15"), CHARLIE, "security")
    end_jan = row(snap("2026-01-31"), CHARLIE, "security")
    assert (mid_nov["invoices_overdue"], mid_nov["invoices_uncollectible_365d"]) == (2, 0)
    assert (mid_dec["invoices_overdue"], mid_dec["invoices_uncollectible_365d"]) == (1, 1)
    assert (end_jan["invoices_overdue"], end_jan["invoices_paid_late_365d"]) == (0, 1)
    # alpha's feature request (2026-01-05, solved 2026-01-20, rated bad): open and unrated until solved
    open_, solved = row(snap("2026-01-10"), ALPHA, "automation"), row(snap("2026-01-31"), ALPHA, "automation")
    assert (open_["tickets_open"], open_["bad_satisfaction_180d"]) == (1, 0)
    assert (solved["tickets_open"], solved["bad_satisfaction_180d"]) == (0, 1)
    assert solved["bad_satisfaction_share_180d"] == pytest.approx(1.0)
    assert solved["hours_to_solve_median_180d"] == pytest.approx(360.0)
    assert (solved["tickets_high_90d"], solved["tickets_feature_request_90d"]) == (1, 1)
    nps = row(snap("2026-03-31"), ALPHA, "automation")
    assert (nps["nps_latest"], nps["nps_trend"], nps["nps_mean_365d"]) == (5, -3, pytest.approx(6.5))


def test_readiness_and_commercial(snap) -> None:
    frame = snap("2026-03-31")
    alpha, charlie = row(frame, ALPHA, "automation"), row(frame, CHARLIE, "security")
    assert alpha["employee_growth_1y"] == pytest.approx(60 / 40 - 1)
    assert (alpha["primary_tier"], charlie["primary_tier"]) == ("professional", "enterprise")
    assert alpha["months_to_fiscal_year_start"] == 10  # April .. January
    assert row(snap("2026-03-31", fiscal_year_start_month=4), ALPHA, "automation")["months_to_fiscal_year_start"] == 1
    assert (alpha["mrr"], alpha["primary_mrr"], alpha["products_owned"]) == (750.0, 350.0, 2)
    assert alpha["months_since_last_purchase"] == pytest.approx((date(2026, 3, 31) - date(2026, 1, 10)).days / 30.4375)
    assert (charlie["products_owned"], charlie["products_churned"]) == (1, 1)


def test_cohort_percentiles_rank_within_segment_and_tenure_band(snap) -> None:
    frame = snap("2026-03-31")
    pct = [c for c in frame.columns if c.endswith("_cohort_pct")]
    assert frame[pct].ge(0).all().all() and frame[pct].le(1).all().all()
    # bravo and charlie share a cohort (smb, 12-24 months): bravo's feature share is the higher one
    assert row(frame, BRAVO, "analytics")["feature_share_30d_cohort_pct"] == 1.0
    assert row(frame, CHARLIE, "security")["feature_share_30d_cohort_pct"] == 0.0
    assert row(frame, ALPHA, "automation")["feature_share_30d_cohort_pct"] == 0.0  # alone in its cohort


def test_frame_types_are_stable(snap) -> None:
    frame = snap("2026-03-31")
    assert str(frame["label"].dtype) == "Int64"
    assert all(isinstance(v, date) for v in frame["as_of"])
    assert str(frame["events_30d"].dtype) == "Int64"
    assert frame["feature_share_30d"].dtype == "float64"
    assert frame["segment"].map(type).eq(str).all()
    assert frame["account_id"].is_monotonic_increasing


# ---- failures ------------------------------------------------------------------------------------


def test_as_of_outside_the_data_is_a_feature_error(con: duckdb.DuckDBPyConnection, scenario_settings: Settings) -> None:
    with pytest.raises(FeatureError, match="outside the data"):
        build_snapshot(con, date(2024, 6, 14), scenario_settings)
    with pytest.raises(FeatureError, match="outside the data"):
        build_snapshot(con, date(2026, 4, 1), scenario_settings)


def test_catalogue_must_have_one_primary_product() -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA c360")
    con.execute(
        "CREATE TABLE c360.products AS SELECT * FROM (VALUES ('a', 'primary'), ('b', 'primary')) t(product, kind)"
    )
    with pytest.raises(FeatureError, match="exactly one primary"):
        primary_product(con)


def test_snapshot_sql_names_no_product(scenario_settings: Settings) -> None:
    # product names come from the warehouse catalogue at run time; only the primary's name is a literal
    sql = snapshot_sql("primary-x", date(2026, 3, 31), scenario_settings, date(2026, 3, 31))
    assert "'primary-x'" in sql
    assert "'analytics'" not in sql and "'automation'" not in sql  # ('security' is also a ticket category)


def test_a_reader_reads_bounds_primary_and_fingerprint_once(
    writable_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a reader over one connection, counting the warehouse reads of bounds and primary product
    calls = {"bounds": 0, "primary": 0, "sql": 0}

    def counted(name: str, real):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(build, "data_bounds", counted("bounds", build.data_bounds))
    monkeypatch.setattr(build, "primary_product", counted("primary", build.primary_product))
    monkeypatch.setattr(build, "snapshot_sql", counted("sql", build.snapshot_sql))
    days = [date(2025, 10, 31), date(2025, 11, 30), date(2025, 12, 31)]
    with warehouse(writable_settings) as con:
        reader = SnapshotReader(con, writable_settings)
        # when it materialises (if not current) and reads three dates, twice
        built = [reader.ensure(d) for d in days]
        frames = [reader.read(d) for d in days]
        again = [reader.ensure(d) for d in days]
    # then bounds and primary product were read once, the SQL generated once per date plus once to fingerprint it
    assert calls == {"bounds": 1, "primary": 1, "sql": len(days) + 1}
    assert built == [True, True, True] and again == [False, False, False]
    assert [f["as_of"].iloc[0] for f in frames] == days


def test_a_reader_refuses_a_date_outside_the_data_and_a_warehouse_without_data(tmp_path: Path) -> None:
    con = duckdb.connect()
    try:
        reader = SnapshotReader(con, load_settings(home=tmp_path))
        with pytest.raises(FeatureError, match="consolidate"):
            reader.read(date(2025, 1, 31))
    finally:
        con.close()


def test_a_reader_over_the_scenario_matches_the_one_date_functions(
    con: duckdb.DuckDBPyConnection, scenario_settings: Settings
) -> None:
    reader = SnapshotReader(con, scenario_settings)
    pd.testing.assert_frame_equal(
        reader.read(date(2026, 3, 31)), build_snapshot(con, date(2026, 3, 31), scenario_settings)
    )
    assert reader.code_version == build.feature_code_fingerprint(reader.primary, scenario_settings)
    with pytest.raises(FeatureError, match="outside the data"):
        reader.build(date(2030, 1, 31))
