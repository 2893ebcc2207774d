"""Two tuning worker processes on one Optuna study in PostgreSQL: N trials, none lost or run twice, one registration.

The training is the challenger step of the session's team cycle (`xsell train --trials 6 --workers 2`).
"""

from __future__ import annotations

import psycopg2

from tests.e2e.team import WORKER_TRIALS, TeamCycle, TeamServices, model_versions, xsell, xsell_failure


def _trials(services: TeamServices, study: str) -> list[tuple[int, str, str | None]]:
    """(number, state, worker) of every trial of the study, read from PostgreSQL directly."""
    with psycopg2.connect(services.optuna_url) as con, con.cursor() as cur:
        cur.execute(
            """
            select t.number, t.state, a.value_json
            from trials t
            join studies s on s.study_id = t.study_id
            left join trial_user_attributes a on a.trial_id = t.trial_id and a.key = 'worker'
            where s.study_name = %s
            order by t.number
            """,
            (study,),
        )
        return [(int(n), str(state), worker) for n, state, worker in cur.fetchall()]


def test_two_workers_ran_exactly_n_trials_once_each(team_services: TeamServices, team_cycle: TeamCycle) -> None:
    trials = _trials(team_services, team_cycle.workers_study)
    numbers = [n for n, _, _ in trials]
    assert numbers == list(range(WORKER_TRIALS)), trials  # unique, none missing, none beyond the budget
    assert all(state in ("COMPLETE", "PRUNED") for _, state, _ in trials), trials
    workers = {w for _, _, w in trials}
    assert len(workers) == 2 and None not in workers, workers  # both worker processes ran trials
    assert (
        team_cycle.challenger["extra"]["trials_in_study"] == WORKER_TRIALS if "extra" in team_cycle.challenger else True
    )


def test_the_result_is_registered_once(team_services: TeamServices, team_cycle: TeamCycle) -> None:
    name = team_cycle.challenger["name"]
    assert model_versions(team_services, name) == team_cycle.versions_before_workers + 1
    assert int(team_cycle.challenger["version"]) == team_cycle.versions_before_workers + 1


def test_a_late_worker_joins_by_name_and_finds_no_trial_left(
    team_services: TeamServices, team_cycle: TeamCycle
) -> None:
    # a worker on the same home and data (as on another machine with the same export) names the same study
    joined = xsell(
        "tune-worker",
        "--study",
        team_cycle.workers_study,
        "--worker",
        "3",
        services=team_services,
        home=team_cycle.home,
    )
    assert joined == {"study": team_cycle.workers_study, "worker": 3, "trials_run": 0}
    assert [n for n, _, _ in _trials(team_services, team_cycle.workers_study)] == list(range(WORKER_TRIALS))
    # a worker whose rows give another study is refused, naming both
    refused = xsell_failure(
        "tune-worker", "--study", "xsell-propensity-pooled-000000000000", services=team_services, home=team_cycle.home
    )
    assert team_cycle.workers_study in refused and "xsell-propensity-pooled-000000000000" in refused
