"""The scoring API's OpenAPI document: FastAPI's, with the score request said exactly.

FastAPI describes `POST /v1/score`'s body from the model that validates it (`deploy.api.schemas.ScoreRequest`), which
takes either field and checks the rest in code. The document served instead says what that code accepts: `oneOf`
an `AccountIdsRequest` (`account_ids`: 1..`api.max_accounts` ids of 1..`ACCOUNT_ID_MAX_CHARS` characters) or a
`FeatureRowsRequest` (`rows`: 1..`api.max_rows` objects of the champion's `FeatureRow`, whose product is one the
champion scores and whose keys are its features, nothing else). A feature row depends on the champion being served,
so the document is rebuilt when a reload brings another one. What a JSON schema cannot say (two rows of the same
account x product are refused; numbers must be finite, as in any JSON) is in the descriptions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from xsell.settings import ApiSettings

#: Longest account id a request may carry (CRM ids are 15 or 18 characters).
ACCOUNT_ID_MAX_CHARS = 128

_SCHEMAS = "#/components/schemas/"


def account_id_schema() -> dict[str, Any]:
    """An account id: 1..ACCOUNT_ID_MAX_CHARS characters."""
    return {"type": "string", "minLength": 1, "maxLength": ACCOUNT_ID_MAX_CHARS}


def request_schemas(row_model: type[BaseModel], api: ApiSettings) -> dict[str, Any]:
    """Component schemas of the score request: `ScoreRequest` (oneOf the two shapes), both shapes, `FeatureRow`."""
    row = row_model.model_json_schema(ref_template=_SCHEMAS + "{model}")
    row.pop("$defs", None)
    row["title"] = "FeatureRow"
    row["description"] = (
        "One account x product to score: account_id, product (one the champion scores), optional as_of (today when "
        "absent) and any of the champion's features (absent or null: missing). Numbers must be finite."
    )
    row["properties"]["account_id"] = {**account_id_schema(), "title": "Account Id"}
    return {
        "ScoreRequest": {
            "title": "ScoreRequest",
            "description": "Exactly one of `account_ids` (scored from the latest snapshot) or `rows` (scored as given).",
            "oneOf": [{"$ref": _SCHEMAS + "AccountIdsRequest"}, {"$ref": _SCHEMAS + "FeatureRowsRequest"}],
        },
        "AccountIdsRequest": {
            "title": "AccountIdsRequest",
            "type": "object",
            "properties": {
                "account_ids": {
                    "title": "Account Ids",
                    "description": "CRM account ids (case-insensitive)",
                    "type": "array",
                    "items": account_id_schema(),
                    "minItems": 1,
                    "maxItems": api.max_accounts,
                }
            },
            "required": ["account_ids"],
            "additionalProperties": False,
        },
        "FeatureRowsRequest": {
            "title": "FeatureRowsRequest",
            "type": "object",
            "properties": {
                "rows": {
                    "title": "Rows",
                    "description": "feature rows, at most one per account_id x product",
                    "type": "array",
                    "items": {"$ref": _SCHEMAS + "FeatureRow"},
                    "minItems": 1,
                    "maxItems": api.max_rows,
                }
            },
            "required": ["rows"],
            "additionalProperties": False,
        },
        "FeatureRow": row,
    }


def openapi_builder(app: FastAPI, row_model: Callable[[], type[BaseModel]], api: ApiSettings) -> Callable[[], Any]:
    """`app.openapi`: FastAPI's document with the score request's schemas of the row model served now (cached per
    row model)."""
    cache: dict[type[BaseModel], dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        model = row_model()
        if model not in cache:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            document.setdefault("components", {}).setdefault("schemas", {}).update(request_schemas(model, api))
            cache.clear()
            cache[model] = document
        return cache[model]

    return openapi
