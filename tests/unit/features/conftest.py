"""A tiny hand-made warehouse whose every feature value at a few as-of dates can be worked out by hand.

Built once per session from `tests.factories.write_raw` plus the scenario rows below (see each comment).
Accounts: alpha (professional, buys analytics 2026-01-10), bravo (starter; its billing id is known only from
2026-02-01 12:00), charlie (enterprise; owned analytics 2025-01..2025-06), delta (starter, churned 2025-09-01).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import consolidate_raw
from tests.factories import (
    account_row,
    invoice_row,
    nps_row,
    opportunity_row,
    subscription_row,
    ticket_row,
    touch_row,
    usage_row,
    write_raw,
)
from xsell.settings import Settings, load_settings

SCENARIO = {
    "crm/accounts": [
        # alpha's oldest version: 40 employees (growth to 60 by 2026-01-15)
        account_row("alpha", employee_count=40, updated_at="2025-01-01T00:00:00Z"),
    ],
    "billing/subscriptions": [
        subscription_row(
            "alpha",
            subscription_item_id="si_alpha_an",
            product="analytics",
            tier=None,
            mrr=400.0,
            start_date="2026-01-10",
        ),
        subscription_row(
            "charlie",
            subscription_item_id="si_charlie_an",
            product="analytics",
            tier=None,
            mrr=400.0,
            start_date="2025-01-01",
            end_date="2025-06-01",
        ),
        subscription_row(
            "bravo",
            subscription_item_id="si_bravo_trial",
            product="analytics",
            tier=None,
            mrr=0.0,
            is_trial="true",
            start_date="2026-03-20",
            end_date="2026-04-19",
        ),
    ],
    "billing/invoices": [
        # charlie: paid 106 days after issue; and one declared uncollectible (60 days after issue)
        invoice_row(
            "charlie", invoice_id="in_charlie_late", issued_at="2025-10-01T00:00:00", paid_at="2026-01-15T00:00:00"
        ),
        invoice_row(
            "charlie",
            invoice_id="in_charlie_bad",
            issued_at="2025-10-05T00:00:00",
            status="uncollectible",
            paid_at=None,
        ),
    ],
    "crm/opportunities": [
        opportunity_row(
            "bravo",
            opportunity_id="006BRAVO000000002",
            product="automation",
            created_at="2025-10-01T00:00:00Z",
            stage="closed_lost",
            closed_at="2026-02-20T10:00:00Z",
        )
    ],
    "support/tickets": [
        ticket_row(
            "alpha",
            ticket_id="TCK-alpha-fr",
            category="feature_request",
            requested_product="analytics",
            priority="high",
            created_at="2026-01-05T00:00:00Z",
            solved_at="2026-01-20T00:00:00Z",
            satisfaction="bad",
        )
    ],
    "survey/nps": [nps_row("alpha", response_id="resp_alpha_2", submitted_at="2026-02-10T12:00:00Z", score=5)],
    "marketing/touches": [
        touch_row("alpha", touch_id="tch_alpha_2", action="opened", occurred_at="2026-01-16T09:00:00Z"),
        touch_row(
            "bravo", touch_id="tch_bravo_h", product="automation", holdout="true", occurred_at="2026-02-10T09:00:00Z"
        ),
        touch_row(
            "bravo", touch_id="tch_bravo_c", product="automation", action="clicked", occurred_at="2026-02-11T09:00:00Z"
        ),
    ],
    "product/usage_daily": [
        # a late row: used on 2026-03-28, reached the warehouse on 2026-03-31 10:00
        usage_row(
            "alpha", date="2026-03-28", user_id="usr_alpha_2", event_count=10, ingested_at="2026-03-31T10:00:00Z"
        ),
        # the first day of usage data: opens the window of valid as-of dates
        usage_row("charlie", date="2024-06-15", user_id="usr_charlie_9", event_count=1),
    ],
}


def build_warehouse(root: Path, **overrides: object) -> Settings:
    """Write the scenario export under `root/raw`, consolidate it into `root/home`, return its settings."""
    raw = write_raw(root / "raw", extra_rows=SCENARIO)
    settings = load_settings(
        home=root / "home",
        **{"ingest.duckdb_memory_limit": "1GB", "ingest.gate.enabled": False, **overrides},  # type: ignore[arg-type]
    )
    consolidate_raw(raw, settings)
    return settings


@pytest.fixture(scope="session")
def scenario_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the consolidated scenario warehouse (shared: tests only read it)."""
    return build_warehouse(tmp_path_factory.mktemp("scenario"))


def with_features(settings: Settings, **values: object) -> Settings:
    """The same settings with some `features.*` fields changed."""
    return settings.model_copy(update={"features": settings.features.model_copy(update=values)})


@pytest.fixture
def writable_settings(scenario_settings: Settings, tmp_path: Path) -> Settings:
    """Settings of a private copy of the scenario warehouse (for tests that write to it)."""
    import shutil

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(scenario_settings.warehouse_path, home / "warehouse.duckdb")
    return scenario_settings.model_copy(update={"home": home})
