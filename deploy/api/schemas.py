"""What the scoring API accepts and answers: the request and response models, and the champion's feature row.

`ScoreRequest` takes exactly one of `account_ids` / `rows`. A feature row is validated by a pydantic model built
per champion (`payload_row_model`): `account_id`, `product` (one the champion scores), optional `as_of`
(`YYYY-MM-DD`) and every catalogue feature and model input, each optional (absent means missing); numbers must be
finite JSON numbers (`NaN`, `Infinity`, `1e400`, `true` and `"12"` are refused naming the field) and any other key
is refused. `payload_frame` turns validated rows into the frame the champion scores, refusing duplicated
account x product pairs; every refusal is a `RequestValidationError` naming the field (`body.rows.<i>.<field>`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
    model_validator,
)

from deploy.api.spec import ACCOUNT_ID_MAX_CHARS
from features.catalog import FEATURES
from features.schema import KEY_COLUMNS
from registry.models import LoadedModel

AccountId = Annotated[str, StringConstraints(min_length=1, max_length=ACCOUNT_ID_MAX_CHARS)]


def _json_number(value: Any) -> Any:
    """A JSON number as a float (so neither `true` nor `"12"` passes as one); too large for a float is infinite."""
    if value is None or isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return float("inf")  # refused as not finite by the field
    raise ValueError(f"Input should be a number, got {type(value).__name__}")


def _iso_date(value: Any) -> Any:
    """A `YYYY-MM-DD` string as a date (no timestamps, no other spellings)."""
    if value is None:
        return value
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("Input should be a date as YYYY-MM-DD")


#: A feature value: a finite JSON number (`NaN`, `Infinity`, `1e400`, `true` and `"12"` are refused naming the field).
FeatureNumber = Annotated[float, BeforeValidator(_json_number), AllowInfNan(False)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def payload_row_model(champion: LoadedModel, products: Sequence[str]) -> type[BaseModel]:
    """A pydantic model of one feature row: `account_id`, `product` (one the model scores), optional `as_of` and
    every catalogue feature and model input (optional: absent means missing; numbers finite: `NaN`, `Infinity` and
    `1e400` are refused naming the field); any other key is refused."""
    strings = set(champion.string_columns) | {f.name for f in FEATURES if f.dtype == "VARCHAR"}
    names = [*(f.name for f in FEATURES), *(c for c in champion.input_columns if c not in KEY_COLUMNS)]
    fields: dict[str, Any] = {
        "account_id": (str, Field(min_length=1, max_length=ACCOUNT_ID_MAX_CHARS)),
        "product": (Literal[tuple(products)], ...),  # type: ignore[valid-type]
        "as_of": (IsoDate | None, None),
        "label": (FeatureNumber | None, None),
    }
    for name in dict.fromkeys(names):
        fields[name] = (str | None, None) if name in strings else (FeatureNumber | None, None)
    return create_model("FeatureRow", __config__=ConfigDict(extra="forbid"), **fields)


def invalid_field(location: tuple[Any, ...], message: str, value: Any = None) -> RequestValidationError:
    """A 422 naming the field at `location`, in FastAPI's error shape."""
    return RequestValidationError([{"type": "value_error", "loc": location, "msg": message, "input": value}])


def payload_frame(rows: list[dict[str, Any]], row_model: type[BaseModel], max_rows: int) -> pd.DataFrame:
    """Validated feature rows as a frame (absent features missing, `as_of` today when absent); a
    RequestValidationError names every invalid field as `body.rows.<i>.<field>`."""
    if len(rows) > max_rows:
        raise invalid_field(("body", "rows"), f"at most {max_rows} rows per request (api.max_rows), got {len(rows)}")
    errors: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        try:
            record = row_model.model_validate(row).model_dump()
        except ValidationError as exc:
            errors.extend(
                {**{k: v for k, v in e.items() if k in ("type", "msg", "input")}, "loc": ("body", "rows", i, *e["loc"])}
                for e in exc.errors(include_url=False)
            )
            continue
        key = (record["account_id"], record["product"])
        if key in seen:
            errors.append(
                {
                    "type": "value_error",
                    "loc": ("body", "rows", i),
                    "msg": f"duplicate account_id x product {key} (also row {seen[key]})",
                    "input": list(key),
                }
            )
        seen.setdefault(key, i)
        records.append(record)
    if errors:
        raise RequestValidationError(errors)
    frame = pd.DataFrame.from_records(records)
    today = datetime.now(UTC).date()
    frame["as_of"] = [today if v is None else v for v in frame["as_of"]]
    return frame


class ScoreRequest(BaseModel):
    """Either account ids (scored from the latest snapshot) or feature rows (scored as given); the OpenAPI document
    says it as oneOf two shapes (`deploy.api.spec`)."""

    model_config = ConfigDict(extra="forbid")

    account_ids: list[AccountId] | None = Field(None, min_length=1, description="CRM account ids (case-insensitive)")
    rows: list[dict[str, Any]] | None = Field(
        None, min_length=1, description="feature rows: account_id, product, optional as_of, feature values"
    )

    @model_validator(mode="after")
    def _one_input(self) -> ScoreRequest:
        if (self.account_ids is None) == (self.rows is None):
            raise ValueError("give either account_ids or rows (exactly one of them)")
        return self


class ScoredRow(BaseModel):
    """The champion's published score of one account x product."""

    account_id: str
    product: str
    as_of: str
    propensity: float | None
    tier: str
    rank: int | None = Field(description="rank within the product over the snapshot (null for feature rows)")
    expected_value: float | None
    next_product: str | None
    reasons: list[str]


class ModelRef(BaseModel):
    """The model that answered."""

    name: str
    version: int


class ScoreResponse(BaseModel):
    """Scores of one request."""

    request_id: str
    model: ModelRef
    scores: list[ScoredRow]
    unknown_account_ids: list[str] = Field(description="ids not in the snapshot, each cut to its first 64 characters")


class Message(BaseModel):
    """An error told in one sentence."""

    detail: str


class InputError(BaseModel):
    """One invalid part of a request: where (`loc`), what (`type`, `msg`) and the value sent (cut short)."""

    type: str
    loc: list[str | int]
    msg: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class InputErrors(BaseModel):
    """The invalid parts of a request."""

    detail: list[InputError]


class UnknownAccounts(BaseModel):
    """None of the account ids is in the snapshot."""

    msg: str
    snapshot_as_of: str | None
    unknown_account_ids: list[str]


class NotFound(BaseModel):
    """404 of a score request."""

    detail: UnknownAccounts


class ReloadAnswer(BaseModel):
    """What an admin reload did, and the state served after it."""

    trigger: str
    reloaded: bool
    error: str | None
    at: str
    model: dict[str, Any]
