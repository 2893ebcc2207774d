"""The simulated world read back from the files: gates, adoption signal, campaigns, drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ingest.contract import TIER_ORDER
from synth import GenerationManifest, generate_raw
from synth.catalog import plan_catalog
from synth.timeline import build_timeline
from synth.world import simulate_world
from xsell.settings import GeneratorSettings


def read_folder(folder: Path) -> pd.DataFrame:
    """Every part of a table folder as strings (parquet timestamps rendered ISO)."""
    frames = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            for col in frame.columns:
                if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
                    frame[col] = frame[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            frame = frame.astype(object).where(frame.notna(), None).astype(str).replace("None", np.nan)
        else:
            frame = pd.read_csv(path, dtype=str)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def norm(values: pd.Series) -> pd.Series:
    return values.str.strip().str.upper()


class Export:
    """Clean, normalised views of a generated folder (duplicates and orphans dropped)."""

    def __init__(self, raw: Path) -> None:
        self.raw = raw
        self.manifest = GenerationManifest.read(raw)
        self.products = pd.read_csv(raw / "catalog/products.csv", dtype=str)
        self.features = pd.read_csv(raw / "catalog/features.csv", dtype=str)
        accounts = read_folder(raw / "crm/accounts")
        for col in ("account_id", "billing_customer_id", "workspace_id"):
            accounts[col] = norm(accounts[col])
        self.accounts = accounts.drop_duplicates()
        self.customer_of = (
            self.accounts.dropna(subset=["billing_customer_id"])
            .drop_duplicates(["billing_customer_id"])
            .set_index("billing_customer_id")["account_id"]
        )
        self.workspace_of = (
            self.accounts.dropna(subset=["workspace_id"])
            .drop_duplicates(["workspace_id"])
            .set_index("workspace_id")["account_id"]
        )
        subs = read_folder(raw / "billing/subscriptions").drop_duplicates()
        subs["customer_id"] = norm(subs["customer_id"])
        # negative seats or mrr are values ingestion nulls: the item (who owns what, from when) stays
        subs["account"] = subs["customer_id"].map(self.customer_of)
        subs = subs.dropna(subset=["account"])
        subs["start"] = pd.to_datetime(subs["start_date"])
        subs["end"] = pd.to_datetime(subs["end_date"])
        subs["trial"] = subs["is_trial"] == "true"
        self.subs = subs
        self.primary = self.products.loc[self.products["kind"] == "primary", "product"].iloc[0]
        self.tiers = [t for t in TIER_ORDER if t in set(self.features["min_tier"])]

    def conversions(self) -> pd.DataFrame:
        """First paid item per account and adjacent product."""
        paid = self.subs[~self.subs["trial"] & (self.subs["product"] != self.primary)]
        return paid.sort_values("start").groupby(["account", "product"], as_index=False).first()

    def owned_primary_tier(self, account: str, day: pd.Timestamp) -> int | None:
        """Tier rank of the primary product the account owns on day, None if it owns none."""
        s = self.subs
        mask = (
            (s["account"] == account)
            & (s["product"] == self.primary)
            & ~s["trial"]
            & (s["start"] <= day)
            & (s["end"].isna() | (s["end"] > day))
        )
        tiers = s.loc[mask, "tier"]
        return max(self.tiers.index(t) for t in tiers) if len(tiers) else None

    def owns(self, account: str, product: str, day: pd.Timestamp) -> bool:
        s = self.subs
        return bool(
            (
                (s["account"] == account)
                & (s["product"] == product)
                & ~s["trial"]
                & (s["start"] <= day)
                & (s["end"].isna() | (s["end"] > day))
            ).any()
        )


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    out = tmp_path_factory.mktemp("world") / "raw"
    generate_raw(out, GeneratorSettings(accounts=300), seed=24)
    return Export(out)


def test_conversions_respect_the_catalogue_gates(export: Export) -> None:
    # given every cross-sell conversion in the files
    conv = export.conversions()
    assert len(conv) > 30
    products = export.products.set_index("product")
    with_prerequisite = []
    # when the account's holdings on the conversion day are looked up
    for row in conv.itertuples():
        tier = export.owned_primary_tier(row.account, row.start)
        # then it owned the primary product that day, at the product's minimum tier or higher
        assert tier is not None, f"{row.account} bought {row.product} without owning {export.primary}"
        min_tier = products.loc[row.product, "min_core_tier"]
        if isinstance(min_tier, str):
            assert tier >= export.tiers.index(min_tier), f"{row.account} bought {row.product} below {min_tier}"
        prerequisite = products.loc[row.product, "prerequisite"]
        if isinstance(prerequisite, str):
            with_prerequisite.append(export.owns(row.account, prerequisite, row.start))
    # and (mostly) already owned the prerequisite
    assert with_prerequisite and np.mean(with_prerequisite) >= 0.8


def test_manifest_conversions_match_the_subscription_files(export: Export) -> None:
    # given the conversions the manifest reports for the period
    conv = export.conversions()
    start = pd.Timestamp(export.manifest.start + "-01")
    # when first paid items inside the period are counted per product from the files
    in_period = conv[conv["start"] >= start].groupby("product").size().to_dict()
    # then they agree
    assert {p: in_period.get(p, 0) for p in export.manifest.conversions} == export.manifest.conversions


def test_conversions_are_often_preceded_by_a_won_cross_sell_opportunity(export: Export) -> None:
    # given conversions and opportunities
    conv = export.conversions()
    opps = read_folder(export.raw / "crm/opportunities").drop_duplicates()
    opps["account_id"] = norm(opps["account_id"])
    won = opps[(opps["type"] == "cross_sell") & (opps["stage"] == "closed_won")]
    keys = set(zip(won["account_id"], won["product"], strict=True))
    # when each conversion looks for a won cross-sell opportunity of its account and product
    share = np.mean([(r.account, r.product) in keys for r in conv.itertuples()])
    # then most have one, and lost opportunities exist too
    assert 0.5 <= share <= 0.9
    assert (opps["stage"] == "closed_lost").any()


def depth_and_labels(export: Export) -> pd.DataFrame:
    """Eligible account-months: features used last month / features in tier, and conversion in 90 days."""
    usage = pd.concat(pd.read_parquet(p) for p in sorted((export.raw / "product/usage_daily").iterdir()))
    usage = usage[usage["event_count"] >= 1]
    usage["account"] = norm(usage["workspace_id"]).map(export.workspace_of)
    usage["month"] = pd.to_datetime(usage["date"]).dt.to_period("M")
    used = usage.dropna(subset=["account"]).groupby(["account", "month"])["feature"].nunique()
    rank = {t: i for i, t in enumerate(export.tiers)}
    n_avail = {i: int((export.features["min_tier"].map(rank) <= i).sum()) for i in rank.values()}
    conv = export.conversions().set_index(["account", "product"])["start"]
    adjacent = export.products[export.products["kind"] == "adjacent"].set_index("product")
    rows = []
    months = pd.period_range(
        pd.Period(export.manifest.start, "M") + 3, pd.Period(export.manifest.end, "M") - 3, freq="M"
    )
    primary = export.subs[(export.subs["product"] == export.primary) & ~export.subs["trial"]]
    for month in months:
        t = month.to_timestamp()
        own = primary[(primary["start"] <= t) & (primary["end"].isna() | (primary["end"] > t))]
        tier = own.assign(r=own["tier"].map(rank)).groupby("account")["r"].max()
        for account, r in tier.items():
            depth = used.get((account, month - 1), 0) / n_avail[r]
            for product, spec in adjacent.iterrows():
                if isinstance(spec["min_core_tier"], str) and r < rank[spec["min_core_tier"]]:
                    continue
                when = conv.get((account, product))
                if when is not None and when <= t:
                    continue
                label = when is not None and t < when <= t + pd.Timedelta(days=90)
                rows.append((account, month, product, depth, label))
    return pd.DataFrame(rows, columns=["account", "month", "product", "depth", "converted"])


def test_conversion_rate_rises_with_adoption_depth(export: Export) -> None:
    # given eligible account-months with their observed adoption depth and 90-day outcome
    frame = depth_and_labels(export)
    # when they are split into quartiles of depth
    frame["quartile"] = pd.qcut(frame["depth"].rank(method="first"), 4, labels=False)
    rate = frame.groupby("quartile")["converted"].mean()
    # then the base rate is a few percent per 90 days and the deepest adopters convert far more
    assert 0.015 <= frame["converted"].mean() <= 0.09
    assert rate[3] > 2.0 * rate[0]
    assert rate[3] > 1.3 * frame["converted"].mean()


def test_holdouts_get_one_assignment_row_and_nothing_else(export: Export) -> None:
    # given the marketing touches
    touches = read_folder(export.raw / "marketing/touches").drop_duplicates(subset=["touch_id"])
    touches["account_id"] = norm(touches["account_id"])
    touches = touches[touches["account_id"].isin(set(export.accounts["account_id"]))]
    campaigns = touches[touches["campaign_id"].str.startswith("XS-")]
    holdout = campaigns[campaigns["holdout"].isin(["true", "True"])]
    # when holdout accounts' rows per campaign are counted
    per = campaigns[
        campaigns.set_index(["campaign_id", "account_id"]).index.isin(
            holdout.set_index(["campaign_id", "account_id"]).index
        )
    ]
    # then each holdout account has a single `sent` row for the campaign, and holdouts are ~10% of targets
    assert len(holdout) > 20
    assert (holdout["action"] == "sent").all()
    assert len(per) == len(holdout)
    targeted = campaigns.groupby("campaign_id")["account_id"].nunique().sum()
    assert 0.05 <= holdout.groupby("campaign_id")["account_id"].nunique().sum() / targeted <= 0.16
    assert not touches.loc[touches["campaign_id"].str.startswith("NL-"), "holdout"].isin(["true", "True"]).any()
    assert campaigns["campaign_id"].str.fullmatch(r"XS-[A-Z0-9-]+-\d{6}").all()


def test_covariate_drift_shifts_usage_and_firmographics(tmp_path: Path) -> None:
    # given the same world with and without covariate drift from 2025-07
    base, drifted = tmp_path / "base", tmp_path / "drift"
    generate_raw(base, GeneratorSettings(accounts=200), seed=4)
    generate_raw(drifted, GeneratorSettings(accounts=200, drift_at="2025-07", drift_kind="covariate"), seed=4)

    def after_vs_before(raw: Path) -> tuple[float, float, float]:
        usage = pd.concat(pd.read_parquet(p) for p in sorted((raw / "product/usage_daily").iterdir()))
        usage["month"] = pd.to_datetime(usage["date"]).dt.to_period("M").astype(str)
        per = usage.groupby(["workspace_id", "month"]).size().groupby("month").mean()
        rows_ratio = per[per.index >= "2025-07"].mean() / per[(per.index < "2025-07") & (per.index >= "2024-07")].mean()
        accounts = read_folder(raw / "crm/accounts")
        updated = pd.to_datetime(accounts["updated_at"], utc=True, format="ISO8601")
        employees = pd.to_numeric(accounts["employee_count"])
        after = updated >= pd.Timestamp("2025-07-01", tz="UTC")
        emp_ratio = employees[after & (employees > 0)].median() / employees[~after & (employees > 0)].median()
        created = pd.to_datetime(accounts["created_at"], utc=True, format="ISO8601")
        new = accounts[created >= pd.Timestamp("2025-07-01", tz="UTC")].drop_duplicates("account_id", keep="first")
        return rows_ratio, emp_ratio, float((new["segment"] == "smb").mean())

    # when usage per workspace-month, employee counts and new accounts' segments are compared
    base_rows, base_emp, base_smb = after_vs_before(base)
    drift_rows, drift_emp, drift_smb = after_vs_before(drifted)
    # then after the drift month usage falls, employee counts fall and new accounts are mostly smb
    assert drift_rows < 0.75 * base_rows
    assert drift_emp < 0.8 * base_emp
    assert drift_smb > base_smb + 0.15


def test_concept_drift_changes_what_drives_one_product_only() -> None:
    # given the same world simulated with and without concept drift from 2025-07
    base = GeneratorSettings(accounts=1500)
    drifted = GeneratorSettings(accounts=1500, drift_at="2025-07", drift_kind="concept")
    catalog = plan_catalog(base)
    drift_month = build_timeline(drifted).drift_month

    def correlations(settings: GeneratorSettings) -> tuple[dict[tuple[str, int, bool], float], float]:
        timeline = build_timeline(settings)
        world = simulate_world(settings, catalog, timeline, seed=9)
        trace = world.hazard_trace
        period = trace["month"] - timeline.period_first
        drivers = {
            "depth": world.depth[period, trace["eligible"]],
            "growth": world.accounts.growth[trace["eligible"]],
        }
        out = {}
        for name, values in drivers.items():
            for j in (0, 1):
                for after in (False, True):
                    mask = (trace["product"] == j) & ((trace["month"] >= drift_month) == after)
                    out[name, j, after] = float(np.corrcoef(values[mask], trace["hazard"][mask])[0, 1])
        return out, float(world.depth[-6:][world.paid[-6:]].mean())

    # when the correlation of conversion hazard with depth and health is measured before and after
    plain, plain_depth = correlations(base)
    drift, drift_depth = correlations(drifted)
    # then the first adjacent product's hazard stops following adoption depth and follows headcount growth instead
    assert drift["depth", 0, False] > 0.3 and plain["depth", 0, True] > 0.3
    assert drift["depth", 0, True] < 0.5 * drift["depth", 0, False]
    assert drift["growth", 0, True] > plain["growth", 0, True] + 0.2
    # and the other products and the input distributions are unchanged
    assert drift["depth", 1, True] > 0.7 * plain["depth", 1, True]
    assert abs(drift_depth - plain_depth) < 0.03
