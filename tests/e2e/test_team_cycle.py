"""A full cycle in team mode: everything lands on the servers (MLflow, Optuna in PostgreSQL, Prefect), nothing in
the embedded stores under the home."""

from __future__ import annotations

import urllib.parse

import psycopg2

from tests.e2e.team import TeamCycle, TeamServices


def test_runs_models_and_aliases_are_on_the_mlflow_server(team_services: TeamServices, team_cycle: TeamCycle) -> None:
    name = team_cycle.champion["name"]
    status, body = team_services.mlflow_get(f"/api/2.0/mlflow/registered-models/get?name={name}")
    assert status == 200, body
    aliases = {a["alias"]: a["version"] for a in body["registered_model"].get("aliases", [])}
    assert aliases["champion"] == str(team_cycle.champion["version"])
    assert aliases["challenger"] == str(team_cycle.challenger["version"])
    # the training runs and their artifacts (served by the tracking server) are there
    status, run = team_services.mlflow_get(f"/api/2.0/mlflow/runs/get?run_id={team_cycle.challenger['run_id']}")
    assert status == 200 and run["run"]["info"]["status"] == "FINISHED"
    assert run["run"]["info"]["artifact_uri"].startswith("mlflow-artifacts:")
    query = urllib.parse.urlencode({"run_id": team_cycle.challenger["run_id"], "path": "plots"})
    status, listed = team_services.mlflow_get(f"/api/2.0/mlflow/artifacts/list?{query}")
    assert status == 200 and any(f["path"].endswith(".png") for f in listed.get("files", [])), listed
    # and nothing went to an embedded store under the home
    assert not (team_cycle.home / "mlflow.db").exists()
    assert not (team_cycle.home / "optuna.db").exists()


def test_studies_are_in_postgresql(team_services: TeamServices, team_cycle: TeamCycle) -> None:
    with psycopg2.connect(team_services.optuna_url) as con, con.cursor() as cur:
        cur.execute("select study_name from studies")
        studies = {row[0] for row in cur.fetchall()}
    assert team_cycle.workers_study in studies and len(studies) == 2  # the champion's study and the workers' study


def test_flow_runs_are_on_the_prefect_server(team_services: TeamServices, team_cycle: TeamCycle) -> None:
    status, flows = team_services.prefect_post("/flows/filter", {})
    assert status == 200, flows
    names = {f["id"]: f["name"] for f in flows}
    status, runs = team_services.prefect_post("/flow_runs/filter", {"limit": 200})
    assert status == 200, runs
    completed = {names[r["flow_id"]] for r in runs if r["state_type"] == "COMPLETED"}
    assert {"consolidate", "train", "score", "monitor", "report"} <= completed, completed
    assert not [r for r in runs if r["state_type"] in ("FAILED", "CRASHED")]


def test_scores_and_monitoring_used_the_servers_champion(team_cycle: TeamCycle) -> None:
    assert team_cycle.scored["model_version"] == team_cycle.champion["version"]
    assert team_cycle.scored["rows"] > 0
    assert team_cycle.monitored["decision"] in ("none", "retrain", "rollback")
    assert (team_cycle.home / "reports" / "index.html").is_file()
