"""The raw data contract (../shared/data-contract.md) as data: tables, columns, types and defect rules.

Field-level fidelity: each column either *defines* its row or is a *value* of it.

* Defining columns are the ids, every date and timestamp, and the fields that say what the row is
  (`billing/subscriptions.product` and `is_trial`, `survey/nps.score`, ...). A row whose defining
  column is missing, unparsable or impossible is set aside (rejected) with its reason.
* Value columns (`TableSpec.value_columns`) describe a row that stands without them. A missing
  required, unparsable, not-allowed or impossible (`TableSpec.null_if`) value is set to NULL, the row
  is kept, and the data-quality report counts the NULLs per table and column (`nulled_values`).
* A column naming a product (`TableSpec.product_columns`) must name one of the catalogue's: an unknown
  product sets the row aside (`unknown_product:<column>`) where the column defines the row, and is
  nulled and counted where it is a value.
* The catalogue (`catalog/*`) has no value columns: it is curated, and a bad row stops the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "int", "float", "bool", "timestamp", "date"]
IdKind = Literal["account", "customer", "workspace"]

#: DuckDB type each contract type is cast to.
DUCKDB_TYPES: dict[ColumnType, str] = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",  # UTC, naive
    "date": "DATE",
}


@dataclass(frozen=True)
class Column:
    """One contract column: its type, nullability, id kind and allowed values."""

    name: str
    type: ColumnType = "string"
    nullable: bool = False
    id_kind: IdKind | None = None
    allowed: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Rule:
    """An impossible-value rule on defining columns: rows where `sql` is true are set aside as invalid with `reason`."""

    reason: str
    sql: str


@dataclass(frozen=True)
class TableSpec:
    """One raw table of the contract, named by its folder path under RAW (e.g. `crm/accounts`)."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    invalid_rules: tuple[Rule, ...] = ()
    #: non-key, non-date columns whose unusable value is set to NULL (row kept, counted per column)
    value_columns: tuple[str, ...] = ()
    #: (value column, SQL true when its value is impossible): the value is set to NULL, the row kept
    null_if: tuple[tuple[str, str], ...] = ()
    #: columns naming a catalogue product: an unknown product sets the row aside when the column defines it
    #: (`unknown_product:<column>`), or is set to NULL and counted when it is a value column
    product_columns: tuple[str, ...] = ()
    #: SQL true when the row is dated in the future; `{export_time}` is substituted
    future_sql: str | None = None
    #: (column, id kind) that must resolve to a known account
    orphan_key: tuple[str, IdKind] | None = None
    #: file-name stem inside the folder when several tables share one folder (catalog)
    file_stem: str | None = None
    large: bool = False
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """A value column is never an id, a key, a date or a timestamp; impossible-value rules name value columns."""
        names = {c.name: c for c in self.columns}
        for name in self.value_columns:
            col = names.get(name)
            if col is None or col.id_kind is not None or name in self.key or col.type in ("date", "timestamp"):
                raise ValueError(f"{self.name}: {name!r} cannot be a value column (unknown, id, key or date)")
        for name, _ in self.null_if:
            if name not in self.value_columns:
                raise ValueError(f"{self.name}: null_if names {name!r}, which is not a value column")
        for name in self.product_columns:
            if name not in names:
                raise ValueError(f"{self.name}: product column {name!r} is not a column")

    @property
    def defining_columns(self) -> tuple[str, ...]:
        """Columns whose unusable value sets the row aside: ids, keys, dates and what says what the row is."""
        return tuple(c.name for c in self.columns if c.name not in self.value_columns)

    @property
    def column_names(self) -> tuple[str, ...]:
        """Required column names in contract order."""
        return tuple(c.name for c in self.columns)

    @property
    def slug(self) -> str:
        """Warehouse-safe name, e.g. `crm_accounts`."""
        return self.name.replace("/", "_")

    def column(self, name: str) -> Column:
        """The column spec called `name`."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")


C = Column

PRODUCTS = TableSpec(
    name="catalog/products",
    file_stem="products",
    description="the product catalogue",
    key=("product",),
    columns=(
        C("product"),
        C("kind", allowed=("primary", "adjacent")),
        C("prerequisite", nullable=True),
        C("min_core_tier", nullable=True),
        C("list_price_mrr", "float"),
    ),
    invalid_rules=(Rule("negative_price", "list_price_mrr < 0"),),
)

FEATURES = TableSpec(
    name="catalog/features",
    file_stem="features",
    description="the primary product's features, by minimum tier",
    key=("feature",),
    columns=(C("feature"), C("min_tier"), C("signals_product", nullable=True)),
)

ACCOUNTS = TableSpec(
    name="crm/accounts",
    description="account extracts (slowly changing; several extracts)",
    columns=(
        C("account_id", id_kind="account"),
        C("account_name"),
        C("industry", nullable=True),
        C("employee_count", "int", nullable=True),
        C("annual_revenue", "float", nullable=True),
        C("country", nullable=True),
        C("segment", nullable=True, allowed=("smb", "mid_market", "enterprise")),
        C("created_at", "timestamp"),
        C("billing_customer_id", nullable=True, id_kind="customer"),
        C("workspace_id", nullable=True, id_kind="workspace"),
        C("updated_at", "timestamp"),
    ),
    value_columns=("account_name", "industry", "employee_count", "annual_revenue", "country", "segment"),
    null_if=(("employee_count", "employee_count <= 0"), ("annual_revenue", "annual_revenue < 0")),
    future_sql="updated_at > {export_time} OR created_at > {export_time}",
)

OPPORTUNITIES = TableSpec(
    name="crm/opportunities",
    description="sales opportunities",
    key=("opportunity_id",),
    columns=(
        C("opportunity_id"),
        C("account_id", id_kind="account"),
        C("product"),
        C("type", allowed=("new_business", "cross_sell", "upsell", "renewal")),
        C("stage", allowed=("open", "closed_won", "closed_lost")),
        C("created_at", "timestamp"),
        C("closed_at", "timestamp", nullable=True),
        C("amount", "float", nullable=True),
    ),
    value_columns=("type", "stage", "amount"),
    product_columns=("product",),
    future_sql="created_at > {export_time}",
    orphan_key=("account_id", "account"),
)

SUBSCRIPTIONS = TableSpec(
    name="billing/subscriptions",
    description="subscription items: who owns what, from when",
    key=("subscription_item_id",),
    columns=(
        C("subscription_item_id"),
        C("customer_id", id_kind="customer"),
        C("product"),
        C("tier", nullable=True),
        C("seats", "int"),
        C("mrr", "float"),
        C("is_trial", "bool"),
        C("start_date", "date"),
        C("end_date", "date", nullable=True),
    ),
    # product, is_trial and the dates say who owns what from when: they define the row
    value_columns=("tier", "seats", "mrr"),
    null_if=(("seats", "seats < 0"), ("mrr", "mrr < 0")),
    product_columns=("product",),
    future_sql="start_date > CAST({export_time} AS DATE)",
    orphan_key=("customer_id", "customer"),
)

INVOICES = TableSpec(
    name="billing/invoices",
    description="invoices and payment behaviour",
    key=("invoice_id",),
    columns=(
        C("invoice_id"),
        C("customer_id", id_kind="customer"),
        C("issued_at", "timestamp"),
        C("amount", "float"),
        C("status", allowed=("paid", "open", "uncollectible")),
        C("paid_at", "timestamp", nullable=True),
    ),
    value_columns=("amount", "status"),
    future_sql="issued_at > {export_time}",
    orphan_key=("customer_id", "customer"),
)

USAGE = TableSpec(
    name="product/usage_daily",
    description="product usage, one row per workspace x user x feature x day",
    large=True,
    columns=(
        C("date", "date"),
        C("workspace_id", id_kind="workspace"),
        C("user_id"),
        C("feature"),
        C("event_count", "int"),
        C("ingested_at", "timestamp"),
    ),
    # the row records that a user used a feature on a day; its count is a value (features floor it at 1)
    value_columns=("event_count",),
    null_if=(("event_count", "event_count < 1"),),
    # clock skew: a day of use cannot come after the row reached the warehouse
    future_sql="date > CAST(ingested_at AS DATE) OR ingested_at > {export_time}",
    orphan_key=("workspace_id", "workspace"),
)

TICKETS = TableSpec(
    name="support/tickets",
    description="support tickets",
    key=("ticket_id",),
    columns=(
        C("ticket_id"),
        C("account_id", id_kind="account"),
        C("created_at", "timestamp"),
        C("solved_at", "timestamp", nullable=True),
        C("priority", allowed=("low", "normal", "high", "urgent")),
        C("category", allowed=("billing", "bug", "how_to", "feature_request", "integration", "security")),
        C("satisfaction", nullable=True, allowed=("good", "bad")),
        C("requested_product", nullable=True),
    ),
    value_columns=("priority", "category", "satisfaction", "requested_product"),
    product_columns=("requested_product",),
    future_sql="created_at > {export_time}",
    orphan_key=("account_id", "account"),
)

NPS = TableSpec(
    name="survey/nps",
    description="NPS responses",
    key=("response_id",),
    columns=(
        C("response_id"),
        C("account_id", id_kind="account"),
        C("submitted_at", "timestamp"),
        C("score", "int"),
    ),
    # a response is its score: no value columns, an unusable score sets the response aside
    invalid_rules=(Rule("score_out_of_range", "score < 0 OR score > 10"),),
    future_sql="submitted_at > {export_time}",
    orphan_key=("account_id", "account"),
)

TOUCHES = TableSpec(
    name="marketing/touches",
    description="marketing and sales touches, with campaign holdouts",
    key=("touch_id",),
    columns=(
        C("touch_id"),
        C("account_id", id_kind="account"),
        C("occurred_at", "timestamp"),
        C("channel", allowed=("email", "webinar", "in_app", "sales_call")),
        C("campaign_id"),
        C("product", nullable=True),
        C("action", allowed=("sent", "opened", "clicked", "attended", "replied")),
        C("holdout", "bool"),
    ),
    # campaign_id and holdout say which campaign arm the row belongs to: they define it
    value_columns=("channel", "product", "action"),
    product_columns=("product",),
    future_sql="occurred_at > {export_time}",
    orphan_key=("account_id", "account"),
)

#: Every table of the contract, in load order (catalog and accounts first: others resolve against them).
TABLES: tuple[TableSpec, ...] = (
    PRODUCTS,
    FEATURES,
    ACCOUNTS,
    OPPORTUNITIES,
    SUBSCRIPTIONS,
    INVOICES,
    USAGE,
    TICKETS,
    NPS,
    TOUCHES,
)

TABLES_BY_NAME: dict[str, TableSpec] = {t.name: t for t in TABLES}

#: Primary-product tiers, lowest first (contract: the distinct min_tier values in this order).
TIER_ORDER: tuple[str, ...] = ("starter", "professional", "enterprise")

#: Which table owns each id kind, and the column there that defines the known ids.
ID_SOURCES: dict[IdKind, tuple[str, str]] = {
    "account": ("crm/accounts", "account_id"),
    "customer": ("crm/accounts", "billing_customer_id"),
    "workspace": ("crm/accounts", "workspace_id"),
}

#: File endings a table folder may hold.
RAW_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")

#: Written by an as-of cut (`ingest.asof`) at the root of the export it writes: what the cut kept.
TRUNCATION_NAME = "truncation.json"

#: Files at the RAW root that belong to no table yet are expected there (not reported as unknown entries).
SIDE_FILES: dict[str, str] = {
    "generator_manifest.json": "what the generator (synth/) wrote and injected",
    TRUNCATION_NAME: "what an as-of cut kept",
}


def table_folder(spec: TableSpec) -> str:
    """Folder (relative to RAW) that holds the table's parts."""
    return spec.name.rsplit("/", 1)[0] if spec.file_stem else spec.name
