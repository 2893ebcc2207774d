"""The decision policy: debounced drift, performance floors, rollback margin, none; a pure function."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from monitoring.policy import Decision, decide, is_drifted
from tests.unit.monitoring.factories import drift_result, metrics, performance, record
from xsell.settings import PolicySettings, SettingsError, load_settings

POLICY = PolicySettings(persist_checks=2, window_checks=3, drift_share=0.3)
AS_OF = date(2025, 6, 30)


def test_no_drift_no_labels_is_none() -> None:
    # given a quiet check with no history and no matured labels
    decision = decide(AS_OF, drift_result(0.0), [], None, POLICY, champion_version=1)
    # then nothing is to be done, and the reasons say why
    assert decision.decision == "none" and decision.drifted is False
    assert any("no drift" in r for r in decision.reasons)
    assert any("matured labels" in r for r in decision.reasons)


def test_single_drifted_check_is_debounced() -> None:
    decision = decide(AS_OF, drift_result(0.5), [record("2025-05-31", False)], None, POLICY, champion_version=1)
    assert decision.decision == "none" and decision.drifted is True
    assert (decision.drifted_checks, decision.window) == (1, 2)
    assert "needs 2 of 3" in decision.reasons[0]


def test_drift_in_two_of_three_checks_retrains() -> None:
    history = [record("2025-04-30", True), record("2025-05-31", False)]
    decision = decide(AS_OF, drift_result(0.5), history, None, POLICY, champion_version=1)
    assert decision.decision == "retrain"
    assert decision.reasons[0].startswith("drift persisted in 2 of the last 3 checks")


def test_drift_outside_the_window_does_not_count() -> None:
    # drifted 3 checks ago, then two quiet checks: the window of 3 holds only this drifted check
    history = [record("2025-03-31", True), record("2025-04-30", False), record("2025-05-31", False)]
    decision = decide(AS_OF, drift_result(0.5), history, None, POLICY, champion_version=1)
    assert decision.decision == "none" and decision.drifted_checks == 1


def test_checks_of_another_champion_do_not_count() -> None:
    history = [record("2025-05-31", True, champion=1)]
    decision = decide(AS_OF, drift_result(0.5), history, None, POLICY, champion_version=2)
    assert decision.decision == "none" and decision.window == 1


def test_counting_restarts_after_a_retrain_decision() -> None:
    history = [record("2025-04-30", True), record("2025-05-31", True, decision="retrain")]
    decision = decide(AS_OF, drift_result(0.5), history, None, POLICY, champion_version=1)
    assert decision.decision == "none" and decision.drifted_checks == 1


def test_only_a_carried_out_retrain_restarts_the_count() -> None:
    # a retrain deferred (a challenger was still in shadow) leaves the drift counted: the next drifted check retrains
    deferred = [record("2025-04-30", True), record("2025-05-31", True, decision="retrain", action="defer")]
    decision = decide(AS_OF, drift_result(0.5), deferred, None, POLICY, champion_version=1)
    assert decision.decision == "retrain" and decision.drifted_checks == 3
    # a retrain carried out restarts it
    done = [record("2025-04-30", True), record("2025-05-31", True, decision="retrain", action="retrain")]
    assert decide(AS_OF, drift_result(0.5), done, None, POLICY, champion_version=1).drifted_checks == 1
    # so does a failed one not: the drift is still unanswered
    failed = [record("2025-04-30", True), record("2025-05-31", True, decision="retrain", action="retrain_failed")]
    assert decide(AS_OF, drift_result(0.5), failed, None, POLICY, champion_version=1).decision == "retrain"


def test_floors_and_rollback_act_only_past_the_interval() -> None:
    # point estimate 0.12 is below the floor 0.14, but the interval reaches 0.18: chance alone could explain it
    noisy = performance(metrics(1, pr_auc=0.12, pr_ci=(0.08, 0.18)), holdout_pr_auc=0.2)
    decision = decide(AS_OF, drift_result(0.0), [], noisy, POLICY, champion_version=1)
    assert decision.decision == "none"
    # the whole interval below the floor acts, and the reason quotes it
    clear = performance(metrics(1, pr_auc=0.10, pr_ci=(0.08, 0.13)), holdout_pr_auc=0.2)
    decision = decide(AS_OF, drift_result(0.0), [], clear, POLICY, champion_version=1)
    assert decision.decision == "retrain" and "interval 0.0800-0.1300" in decision.reasons[0]
    # the ROC-AUC floor likewise
    roc = performance(metrics(1, pr_auc=0.2, roc_auc=0.55, roc_ci=(0.48, 0.63)), holdout_pr_auc=0.2)
    assert decide(AS_OF, drift_result(0.0), [], roc, POLICY, champion_version=1).decision == "none"
    # rollback: the paired ratio's upper end must be below 1 - margin
    previous = metrics(1, pr_auc=0.30)
    unsure = performance(metrics(2, pr_auc=0.25), previous=previous, holdout_pr_auc=0.25, ratio_ci=(0.7, 0.98))
    assert decide(AS_OF, drift_result(0.0), [], unsure, POLICY, champion_version=2).decision == "none"
    sure = performance(metrics(2, pr_auc=0.25), previous=previous, holdout_pr_auc=0.25, ratio_ci=(0.7, 0.9))
    decision = decide(AS_OF, drift_result(0.0), [], sure, POLICY, champion_version=2)
    assert decision.decision == "rollback" and "interval 0.7000-0.9000" in decision.reasons[0]


def test_a_rerun_ignores_its_own_and_later_records() -> None:
    # the history already holds this as-of date (a rerun) and a later one: neither counts twice
    history = [record("2025-05-31", True), record("2025-06-30", True), record("2025-07-31", True)]
    decision = decide(AS_OF, drift_result(0.0), history, None, POLICY, champion_version=1)
    assert decision.decision == "none" and (decision.drifted_checks, decision.window) == (1, 2)


def test_prediction_drift_alone_makes_a_check_drifted_when_enabled() -> None:
    drift = drift_result(0.0, prediction_score=0.4)
    assert is_drifted(drift, POLICY)
    assert not is_drifted(drift, POLICY.model_copy(update={"prediction_drift": False}))


def test_roc_auc_below_floor_retrains_without_drift() -> None:
    perf = performance(metrics(1, pr_auc=0.2, roc_auc=0.55))
    decision = decide(AS_OF, drift_result(0.0), [], perf, POLICY, champion_version=1)
    assert decision.decision == "retrain"
    assert decision.reasons == ("realised ROC-AUC 0.5500 is below the floor 0.6000",)


def test_pr_auc_drop_against_holdout_retrains() -> None:
    # holdout PR-AUC 0.2 less 30% = 0.14; realised 0.12
    perf = performance(metrics(1, pr_auc=0.12), holdout_pr_auc=0.2)
    decision = decide(AS_OF, drift_result(0.0), [], perf, POLICY, champion_version=1)
    assert decision.decision == "retrain" and "below the floor 0.1400" in decision.reasons[0]
    # and at 0.15 it holds
    ok = decide(AS_OF, drift_result(0.0), [], performance(metrics(1, pr_auc=0.15)), POLICY, champion_version=1)
    assert ok.decision == "none"


def test_floors_are_ignored_on_too_few_positives() -> None:
    perf = performance(metrics(1, pr_auc=0.01, roc_auc=0.4, positives=5))
    decision = decide(AS_OF, drift_result(0.0), [], perf, POLICY, champion_version=1)
    assert decision.decision == "none"
    assert any("5 positives only" in r for r in decision.reasons)


def test_rollback_when_champion_trails_previous_by_the_margin() -> None:
    # previous 0.30, margin 5%: bar 0.285; champion 0.25 -> rollback (wins over a floor retrain too)
    perf = performance(metrics(2, pr_auc=0.25, roc_auc=0.55), previous=metrics(1, pr_auc=0.30), holdout_pr_auc=0.3)
    decision = decide(AS_OF, drift_result(0.0), [], perf, POLICY, champion_version=2)
    assert decision.decision == "rollback"
    assert "previous champion v1" in decision.reasons[0]
    assert any("ROC-AUC" in r for r in decision.reasons[1:])


def test_no_rollback_within_the_margin_or_without_previous_champion() -> None:
    within = performance(metrics(2, pr_auc=0.29), previous=metrics(1, pr_auc=0.30), holdout_pr_auc=0.3)
    assert decide(AS_OF, drift_result(0.0), [], within, POLICY, champion_version=2).decision == "none"
    alone = performance(metrics(2, pr_auc=0.25), holdout_pr_auc=0.3)
    assert decide(AS_OF, drift_result(0.0), [], alone, POLICY, champion_version=2).decision == "none"


def test_decision_json_has_the_public_fields() -> None:
    decision = decide("2025-06-30", drift_result(0.4), [], None, POLICY, champion_version=3)
    payload = decision.to_dict()
    assert list(payload)[:7] == [
        "as_of",
        "decision",
        "reasons",
        "drift_share",
        "drifted_features",
        "metrics",
        "report_html",
    ]
    assert payload["as_of"] == "2025-06-30" and payload["drifted_features"] == ["f0", "f1", "f2", "f3"]
    assert payload["report_html"] == "/reports/monitoring/drift.html"
    assert isinstance(decision, Decision) and decision.record().drifted is True


def test_the_decision_date_is_a_date_and_its_json_text() -> None:
    # given a check decided from a date or from its text, then the decision holds the date and writes it as text
    from datetime import date

    for given in (date(2025, 6, 30), "2025-06-30"):
        decision = decide(given, drift_result(0.4), [], None, POLICY, champion_version=3)
        assert decision.as_of == date(2025, 6, 30)
        assert decision.to_dict()["as_of"] == "2025-06-30" and decision.record().as_of == "2025-06-30"
    # and a malformed date is refused
    with pytest.raises(ValueError):
        decide("2025-06-31", drift_result(0.4), [], None, POLICY, champion_version=3)


def test_policy_window_must_hold_the_persistence(clean_env: None) -> None:
    with pytest.raises(SettingsError, match="persist_checks"):
        load_settings(**{"monitoring.policy.persist_checks": 4, "monitoring.policy.window_checks": 3})


def test_realised_roc_auc_decay_from_the_champions_own_baseline_retrains() -> None:
    # the champion's first out-of-sample check (2025-02, 40 positives) scored ROC-AUC 0.94 (0.92-0.96); now 0.84
    first = replace(
        record("2025-02-28", False, realised_roc_auc=0.94, realised_positives=40), realised_roc_auc_ci=(0.92, 0.96)
    )
    decayed = performance(metrics(1, pr_auc=0.3, roc_auc=0.84, roc_ci=(0.82, 0.86)), holdout_pr_auc=0.2)
    decision = decide(AS_OF, drift_result(0.0), [first], decayed, POLICY, champion_version=1)
    assert decision.decision == "retrain"
    assert decision.reasons[0].startswith("realised ROC-AUC 0.8400 (interval 0.8200-0.8600) fell 0.1000")
    assert "first out-of-sample realised ROC-AUC 0.9400 (interval 0.9200-0.9600) (2025-02-28)" in decision.reasons[0]
    # a fall within chance holds (0.08 against a combined half-width of 0.089), and so does one smaller than
    # max_roc_auc_decay however sure (0.04 < 0.06)
    noisy = performance(metrics(1, pr_auc=0.3, roc_auc=0.86, roc_ci=(0.78, 0.94)), holdout_pr_auc=0.2)
    assert decide(AS_OF, drift_result(0.0), [first], noisy, POLICY, champion_version=1).decision == "none"
    slight = performance(metrics(1, pr_auc=0.3, roc_auc=0.90, roc_ci=(0.89, 0.91)), holdout_pr_auc=0.2)
    assert decide(AS_OF, drift_result(0.0), [first], slight, POLICY, champion_version=1).decision == "none"
    # without a baseline, or with one of another champion, nothing decays
    assert decide(AS_OF, drift_result(0.0), [], decayed, POLICY, champion_version=1).decision == "none"
    assert decide(AS_OF, drift_result(0.0), [first], decayed, POLICY, champion_version=2).decision == "none"
    # a baseline on too few positives does not count
    thin = record("2025-02-28", False, realised_roc_auc=0.94, realised_positives=5)
    assert decide(AS_OF, drift_result(0.0), [thin], decayed, POLICY, champion_version=1).decision == "none"


def test_an_in_sample_check_is_no_baseline_for_decay() -> None:
    # given a first check whose rows labelled the conversions the champion trained on (flattering: 0.94), then an
    # out-of-sample one at 0.86
    in_sample = record("2025-02-28", False, realised_roc_auc=0.94, realised_positives=40, out_of_sample=False)
    honest = record("2025-03-31", False, realised_roc_auc=0.86, realised_positives=40)
    current = performance(metrics(1, pr_auc=0.3, roc_auc=0.84, roc_ci=(0.82, 0.86)), holdout_pr_auc=0.2)
    # when the current check scores 0.84: then the baseline is the out-of-sample 0.86, which 0.84 has not decayed from
    decision = decide(AS_OF, drift_result(0.0), [in_sample, honest], current, POLICY, champion_version=1)
    assert decision.decision == "none", decision.reasons
    # and with only the in-sample check there is no baseline at all, nor with a line recorded before the flag existed
    assert decide(AS_OF, drift_result(0.0), [in_sample], current, POLICY, champion_version=1).decision == "none"
    legacy = replace(in_sample, realised_out_of_sample=None)
    assert decide(AS_OF, drift_result(0.0), [legacy], current, POLICY, champion_version=1).decision == "none"


def test_one_products_decay_from_its_own_baseline_retrains() -> None:
    # given a first out-of-sample check where analytics ranked at 0.85 (0.81-0.89) and automation at 0.95
    first = record(
        "2025-03-31", False, realised_roc_auc=0.90, realised_positives=100,
        products={"analytics": (0.85, 50), "automation": (0.95, 50)},
    )  # fmt: skip
    first.realised_products["analytics"]["roc_auc_ci"] = [0.81, 0.89]
    # when analytics now ranks at 0.70 (interval 0.64-0.76) while overall and automation hold
    perf = replace(
        performance(metrics(1, pr_auc=0.3, roc_auc=0.88, roc_ci=(0.86, 0.90)), holdout_pr_auc=0.2),
        champion_products={
            "analytics": metrics(1, pr_auc=0.2, roc_auc=0.70, roc_ci=(0.64, 0.76)),
            "automation": metrics(1, pr_auc=0.4, roc_auc=0.95, roc_ci=(0.93, 0.97)),
        },
    )
    decision = decide(AS_OF, drift_result(0.0), [first], perf, POLICY, champion_version=1)
    # then it retrains on analytics alone, naming the product and its baseline
    assert decision.decision == "retrain" and len(decision.reasons) == 1
    assert decision.reasons[0].startswith("analytics: realised ROC-AUC 0.7000 (interval 0.6400-0.7600) fell 0.1500")
    assert "first out-of-sample realised ROC-AUC 0.8500 (interval 0.8100-0.8900) (2025-03-31)" in decision.reasons[0]
    # and not within chance (0.07 against 0.072), when the rule is off, or on a product baseline of too few positives
    near = replace(perf, champion_products={"analytics": metrics(1, pr_auc=0.2, roc_auc=0.78, roc_ci=(0.72, 0.84))})
    assert decide(AS_OF, drift_result(0.0), [first], near, POLICY, champion_version=1).decision == "none"
    off = POLICY.model_copy(update={"max_product_roc_auc_decay": None})
    assert decide(AS_OF, drift_result(0.0), [first], perf, off, champion_version=1).decision == "none"
    thin = replace(first, realised_products={"analytics": {"roc_auc": 0.85, "positives": 5}})
    assert decide(AS_OF, drift_result(0.0), [thin], perf, POLICY, champion_version=1).decision == "none"


def test_a_check_records_the_champions_realised_roc_auc() -> None:
    perf = performance(metrics(1, pr_auc=0.3, roc_auc=0.9, positives=44), holdout_pr_auc=0.2)
    perf = replace(perf, champion_products={"analytics": metrics(1, pr_auc=0.2, roc_auc=0.8, positives=21)})
    line = decide(AS_OF, drift_result(0.0), [], perf, POLICY, champion_version=1).record("now")
    assert (line.realised_roc_auc, line.realised_positives, line.action) == (0.9, 44, "pending")
    assert line.realised_out_of_sample is True
    assert line.realised_products == {"analytics": {"roc_auc": 0.8, "roc_auc_ci": None, "positives": 21}}
    # and a check without matured labels records no realised metrics at all
    quiet = decide(AS_OF, drift_result(0.0), [], None, POLICY, champion_version=1).record("now")
    assert quiet.realised_out_of_sample is None and quiet.realised_products == {}


def test_a_product_below_its_holdout_retrains_when_enabled() -> None:
    perf = performance(metrics(1, pr_auc=0.3), holdout_pr_auc=0.2)
    perf = replace(
        perf,
        champion_products={"analytics": metrics(1, pr_auc=0.2, roc_auc=0.7, roc_ci=(0.65, 0.75))},
        champion_holdout_products={"analytics": {"roc_auc": 0.9}},
    )
    assert decide(AS_OF, drift_result(0.0), [], perf, POLICY, champion_version=1).decision == "none"  # off
    on = POLICY.model_copy(update={"max_product_roc_auc_drop": 0.1})
    decision = decide(AS_OF, drift_result(0.0), [], perf, on, champion_version=1)
    assert decision.decision == "retrain" and decision.reasons[0].startswith("analytics: realised ROC-AUC 0.7000")
