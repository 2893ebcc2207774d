"""Schemathesis hooks of the scoring API's fuzzing run (`SCHEMATHESIS_HOOKS=tests.e2e.schemathesis_hooks`).

The one rule of a score request that JSON Schema cannot say (`uniqueItems` compares whole rows, not keys): two
feature rows of the same `account_id` x `product` are refused (422, naming the second row). The API's document says
it in the `rows` description; here the positive cases that break it are dropped, so the check that schema-valid
requests are accepted (ST202) tests every other rule. Negative cases keep them.
"""

from __future__ import annotations

from typing import Any

import schemathesis


def repeats_a_row_key(body: Any) -> bool:
    """True when `body["rows"]` holds two rows of the same account_id x product."""
    rows = body.get("rows") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        return False
    keys = [(row.get("account_id"), row.get("product")) for row in rows if isinstance(row, dict)]
    return len(keys) != len(set(keys))


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Keep every case but a positive one whose rows repeat an account_id x product."""
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    return not (positive and repeats_a_row_key(case.body))
