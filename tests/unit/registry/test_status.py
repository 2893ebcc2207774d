"""registry_status: aliases, versions with their headline metrics, and the last decisions."""

from __future__ import annotations

from registry.aliases import promote
from registry.status import registry_status
from xsell.settings import Settings


def test_status_lists_aliases_versions_and_decisions(governed: Settings) -> None:
    promote(governed, 3, "better")
    status = registry_status(governed)
    assert (status["champion"], status["challenger"], status["previous_champion"]) == (3, None, 1)
    assert [v["version"] for v in status["versions"]] == [3, 2, 1]
    assert status["versions"][2]["metrics"]["pr_auc"] > 0
    assert status["last_decisions"][-1]["action"] == "promote" and status["gates_mode"] == "enabled"
