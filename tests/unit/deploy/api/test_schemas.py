"""deploy.api.schemas: the score request's shape, finite feature numbers, ISO dates, and payload rows as a frame."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ConfigDict, ValidationError, create_model

from deploy.api.schemas import FeatureNumber, IsoDate, ScoreRequest, payload_frame

Row = create_model(
    "Row",
    __config__=ConfigDict(extra="forbid"),
    account_id=(str, ...),
    product=(str, ...),
    as_of=(IsoDate | None, None),
    seats=(FeatureNumber | None, None),
)


def test_a_score_request_takes_exactly_one_input() -> None:
    assert ScoreRequest.model_validate({"account_ids": ["A"]}).account_ids == ["A"]
    assert ScoreRequest.model_validate({"rows": [{"account_id": "A"}]}).rows == [{"account_id": "A"}]
    for body in ({}, {"account_ids": ["A"], "rows": [{}]}):
        with pytest.raises(ValidationError, match="exactly one of them"):
            ScoreRequest.model_validate(body)
    with pytest.raises(ValidationError, match="at least 1 character"):
        ScoreRequest.model_validate({"account_ids": [""]})


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 10**400, True, "12"])
def test_a_feature_number_must_be_a_finite_json_number(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Row.model_validate({"account_id": "A", "product": "p", "seats": value})
    assert info.value.errors()[0]["loc"] == ("seats",)
    assert Row.model_validate({"account_id": "A", "product": "p", "seats": 3}).seats == 3.0  # type: ignore[attr-defined]


def test_an_as_of_must_be_an_iso_day() -> None:
    assert Row.model_validate({"account_id": "A", "product": "p", "as_of": "2026-03-31"}).as_of == date(2026, 3, 31)  # type: ignore[attr-defined]
    for value in ("2026-03-31T00:00:00", "31/03/2026", "2026-02-30"):
        with pytest.raises(ValidationError, match="YYYY-MM-DD"):
            Row.model_validate({"account_id": "A", "product": "p", "as_of": value})


def test_payload_rows_become_a_frame_with_today_as_the_default_as_of() -> None:
    frame = payload_frame(
        [{"account_id": "A", "product": "p"}, {"account_id": "A", "product": "q", "as_of": "2026-03-31", "seats": 2}],
        Row,
        max_rows=10,
    )
    assert list(frame["as_of"]) == [datetime.now(UTC).date(), date(2026, 3, 31)]
    assert frame["seats"].isna().tolist() == [True, False]


def test_payload_errors_name_every_field_and_duplicate() -> None:
    rows = [
        {"account_id": "A", "product": "p"},
        {"account_id": "A", "product": "p"},
        {"account_id": "B", "product": "p", "seats": "x"},
        {"account_id": "C", "product": "p", "colour": "red"},
    ]
    with pytest.raises(RequestValidationError) as info:
        payload_frame(rows, Row, max_rows=10)
    locations = [tuple(e["loc"]) for e in info.value.errors()]
    assert locations == [("body", "rows", 1), ("body", "rows", 2, "seats"), ("body", "rows", 3, "colour")]
    with pytest.raises(RequestValidationError) as too_many:
        payload_frame(rows, Row, max_rows=3)
    assert "at most 3 rows per request" in too_many.value.errors()[0]["msg"]
