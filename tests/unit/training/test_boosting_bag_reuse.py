"""The seed bag fitted in threads, and the search's fold boosters reused for the calibration scores: same models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.unit.training.test_tuning import _objective
from training.boosting import fit_bag
from training.model import PropensityModel

PARAMS = {
    "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20, "bagging_fraction": 0.7, "bagging_freq": 1,
    "feature_fraction": 0.7,
}  # fmt: skip


def _trees(model: PropensityModel) -> list[str]:
    return [b.model_to_string() for bag in model.boosters_.values() for b in bag]


@pytest.mark.parametrize("layout", ["pooled", "per_product"])
def test_a_bag_fitted_in_threads_is_the_bag_fitted_one_after_another(frame: pd.DataFrame, layout: str) -> None:
    # given the same one-thread boosters fitted one after another and two at a time
    kw = {"params": PARAMS, "num_boost_round": 25, "layout": layout, "n_seeds": 3, "random_state": 5}
    alone = PropensityModel(num_threads=1, n_jobs=1, **kw).fit(frame, frame["label"])
    counted: list[int] = []
    threaded = PropensityModel(num_threads=2, n_jobs=2, **kw).fit(
        frame, frame["label"], on_booster=lambda: counted.append(1)
    )
    # then every booster is the same model, in the same place, and each was reported once
    assert _trees(threaded) == _trees(alone)
    assert len(counted) == 3 * len(threaded.boosters_)
    rows = frame.head(50)
    assert np.array_equal(threaded.raw_score(rows), alone.raw_score(rows))
    # and the seeds differ between the boosters of a part
    first = next(iter(threaded.boosters_.values()))
    assert first[0].model_to_string() != first[1].model_to_string()


def test_fit_bag_gives_a_constant_prior_to_a_part_with_one_class() -> None:
    # given a part whose rows are all negative
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = np.r_[(x[:100, 0] > 0).astype(int), np.zeros(100, dtype=int)]
    parts = np.array(["a"] * 100 + ["b"] * 100, dtype=object)
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, "min_child_samples": 5}
    bag, priors = fit_bag(x, y, parts, params, {"a": 5, "b": 5}, ["f0", "f1", "f2"], [], seeds=[1, 2], jobs=2)
    # then only the part with both classes has boosters, one per seed; the other a prior
    assert [sorted(b) for b in bag] == [["a"], ["a"]]
    assert priors["b"] < -10 and abs(priors["a"]) < 1


def test_a_pickled_model_from_before_n_jobs_unpickles_with_its_default(frame: pd.DataFrame) -> None:
    # given a fitted model whose state lacks n_jobs, as models registered before it do
    model = PropensityModel(params=PARAMS, num_boost_round=5).fit(frame, frame["label"])
    state = model.__getstate__()
    del state["n_jobs"]
    old = PropensityModel.__new__(PropensityModel)
    old.__setstate__(state)
    # then it has the default and its parameters read as before
    assert old.get_params()["n_jobs"] == 1
    assert np.array_equal(old.raw_score(frame.head(10)), model.raw_score(frame.head(10)))


@pytest.mark.parametrize("extra", [0, 30])
def test_the_search_fold_boosters_read_at_the_final_rounds_equal_boosters_trained_for_them(
    frame: pd.DataFrame, extra: int
) -> None:
    # given parameters evaluated with early stopping (their fold boosters kept), and the final rounds: the mean best
    # iteration (within what the boosters trained), or beyond what they trained (they must boost further)
    objective = _objective(frame)
    params = {**PARAMS, "scale_pos_weight": 1.5}
    fitted = objective.evaluate(params)
    assert fitted.boosters is not None and len(fitted.boosters) == len(objective.folds)
    rounds = {k: v + extra for k, v in fitted.rounds.items()}
    # when the out-of-fold scores at those rounds come from the kept boosters, and from boosters retrained
    reused = objective.out_of_fold(params, rounds, fitted=fitted)
    retrained = objective.out_of_fold(params, rounds)
    # then they are exactly the same scores
    assert reused.oof_raw is not None and retrained.oof_raw is not None
    assert np.array_equal(reused.oof_raw, retrained.oof_raw)
    assert reused.value == retrained.value


def test_the_reused_scores_differ_when_the_rounds_differ(frame: pd.DataFrame) -> None:
    # given kept fold boosters: reading them at other rounds gives other scores (the equality above is not vacuous)
    objective = _objective(frame)
    fitted = objective.evaluate(PARAMS)
    fewer = {k: max(1, v // 2) for k, v in fitted.rounds.items()}
    assert not np.array_equal(
        objective.out_of_fold(PARAMS, fewer, fitted=fitted).oof_raw,
        objective.out_of_fold(PARAMS, fitted.rounds).oof_raw,
    )


def test_reused_boosters_that_cannot_split_any_more_stop_like_retrained_ones(frame: pd.DataFrame) -> None:
    # given parameters under which no tree can split (every leaf would hold more rows than there are)
    objective = _objective(frame)
    params = {**PARAMS, "min_child_samples": 1_000_000}
    fitted = objective.evaluate(params)
    rounds = {k: v + 30 for k, v in fitted.rounds.items()}
    # when the kept boosters are asked for more rounds than they can grow: no endless boosting, the same scores
    reused = objective.out_of_fold(params, rounds, fitted=fitted)
    assert np.array_equal(reused.oof_raw, objective.out_of_fold(params, rounds).oof_raw)
