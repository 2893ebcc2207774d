"""`PropensityModel`: preprocessing, LightGBM booster(s) and calibration in one picklable scorer.

It follows scikit-learn's conventions (`__init__` stores parameters, `fit` returns self, learned attributes end in
`_`, randomness from `random_state`) and implements `training.result.FittedPropensityModel`: plain DataFrames in
(strings for categories, nullable integers allowed; key columns and unknown columns ignored), calibrated
probabilities, SHAP contributions and reason codes out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator

from features.schema import KEY_COLUMNS
from training.boosting import POOLED, base_params, fit_bag
from training.calibration import Calibrator, fit_calibrator
from training.encoding import TableEncoder, infer_categorical
from training.errors import TrainingError
from training.reasons import FeatureInfo, reason_frame

log = logging.getLogger(__name__)

__all__ = ["PropensityModel"]


class PropensityModel(BaseEstimator):
    """Cross-sell propensity: one LightGBM over all products (`layout="pooled"`) or one per product.

    Parameters
    ----------
    params: LightGBM booster parameters (merged over the fixed base parameters).
    num_boost_round: rounds per booster; an int, or a mapping product -> rounds (`"*"` for the pooled booster).
    layout: "pooled" (the product is a categorical input) or "per_product" (one booster per product).
    calibration: "isotonic", "platt" or "none"; fitted on the `calibration_scores` given to `fit`.
    product_column: the column naming the product (None: a table without products, pooled only).
    features: input columns (default: every column but the key columns and the product column).
    categorical: string-valued inputs (default: inferred from the dtypes seen at fit).
    catalog: `FeatureInfo` per feature, for reason sentences (default: none, sentences from column names).
    random_state: LightGBM seed.
    num_threads: LightGBM threads when fitting (saved with the boosters: also used when scoring).
    id_column: the column identifying a row's entity (`account_id`, or a bring-your-own table's id), remembered as
        `id_column_` so scoring can key its output the same way; never an input.
    n_seeds: boosters per part, each with its own seed (`random_state + i`), whose raw scores are averaged: less
        variance from row and feature subsampling at the same parameters (1: a single booster).
    n_jobs: boosters fitted at a time (threads); with more than one, each booster gets `num_threads // n_jobs`
        threads (at least 1). One-thread boosters in parallel keep their speed on cores shared with other jobs,
        where one multi-threaded booster after another stalls (issue 15); the model is the same whatever `n_jobs`
        when each booster has one thread.
    """

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        num_boost_round: int | Mapping[str, int] = 100,
        layout: str = "pooled",
        calibration: str = "isotonic",
        product_column: str | None = "product",
        features: list[str] | None = None,
        categorical: list[str] | None = None,
        catalog: Mapping[str, FeatureInfo] | None = None,
        random_state: int = 42,
        num_threads: int = 1,
        id_column: str | None = None,
        n_seeds: int = 1,
        n_jobs: int = 1,
    ) -> None:
        self.params = params
        self.num_boost_round = num_boost_round
        self.layout = layout
        self.calibration = calibration
        self.product_column = product_column
        self.features = features
        self.categorical = categorical
        self.catalog = catalog
        self.random_state = random_state
        self.num_threads = num_threads
        self.id_column = id_column
        self.n_seeds = n_seeds
        self.n_jobs = n_jobs

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle, giving a model pickled before `n_jobs` existed its default."""
        state.setdefault("n_jobs", 1)
        super().__setstate__(state)

    # ---- fitting --------------------------------------------------------------------------------------
    def fit(
        self,
        frame: pd.DataFrame,
        y: np.ndarray | pd.Series,
        *,
        calibration_scores: np.ndarray | None = None,
        calibration_labels: np.ndarray | None = None,
        on_booster: Callable[[], None] | None = None,
    ) -> PropensityModel:
        """Learn categories, fit the booster(s) on `frame`/`y`, and the calibrator on out-of-time raw scores.

        `calibration_scores` are raw scores (log-odds) of rows the boosters were not trained on, e.g. CV
        out-of-fold predictions; without them (or with `calibration="none"`) probabilities are the boosters'
        sigmoid. `on_booster()` is called after each fitted booster (progress).
        """
        if self.layout not in ("pooled", "per_product"):
            raise TrainingError(f"unknown model layout {self.layout!r}: expected pooled or per_product")
        labels = np.asarray(y, dtype="int64")
        if len(labels) != len(frame):
            raise TrainingError(f"{len(frame)} rows but {len(labels)} labels")
        product = self.product_column if self.product_column and self.product_column in frame.columns else None
        if self.layout == "per_product" and product is None:
            raise TrainingError("the per_product layout needs a product column")
        excluded = {*KEY_COLUMNS, *([product] if product else []), *([self.id_column] if self.id_column else [])}
        features = list(self.features) if self.features is not None else [c for c in frame.columns if c not in excluded]
        categorical = (
            [c for c in self.categorical if c in features]
            if self.categorical is not None
            else infer_categorical(frame, features)
        )
        self.feature_names_: list[str] = features
        self.categorical_features_: list[str] = categorical
        self.product_column_: str | None = product
        self.id_column_: str | None = self.id_column
        self.products_: list[str] = sorted({str(p) for p in frame[product].dropna()}) if product else []
        inputs = features + ([product] if product and self.layout == "pooled" else [])
        self.input_columns_: list[str] = inputs
        self.encoder_ = TableEncoder(
            features + ([product] if product else []), categorical + ([product] if product else [])
        )
        self.encoder_.fit(frame)
        x = self.encoder_.transform(frame, inputs)
        parts = self._parts(frame, len(frame))
        rounds = self._rounds()
        params = {**base_params(seed=self.random_state, num_threads=self.num_threads, objective_metric="pr_auc")}
        params.pop("metric")
        params.update(dict(self.params or {}))
        jobs = max(1, min(self.n_jobs, max(1, self.n_seeds) * len(set(parts))))  # never more than the boosters
        params["num_threads"] = self.num_threads if jobs == 1 else max(1, self.num_threads // jobs)
        cat_idx = [inputs.index(c) for c in categorical + ([product] if product and self.layout == "pooled" else [])]
        seeds = [self.random_state + i for i in range(max(1, self.n_seeds))]
        bag, self.priors_ = fit_bag(
            x, labels, parts, params, rounds, inputs, cat_idx, seeds=seeds, jobs=jobs, on_booster=on_booster
        )
        self.boosters_: dict[str, list[lgb.Booster]] = {k: [b[k] for b in bag] for k in bag[0]}
        self.num_boost_round_ = {k: b[0].current_iteration() for k, b in self.boosters_.items()}
        self.n_rows_, self.n_positives_ = len(labels), int(labels.sum())
        if calibration_scores is not None and self.calibration != "none":
            if calibration_labels is None:
                raise TrainingError("calibration_scores need calibration_labels")
            self.calibrator_: Calibrator | None = fit_calibrator(
                self.calibration, calibration_scores, np.asarray(calibration_labels)
            )
            self.calibration_method_ = self.calibration
        else:
            self.calibrator_ = None
            self.calibration_method_ = "none"
        return self

    def recalibrate(self, scores: np.ndarray, labels: np.ndarray, method: str | None = None) -> PropensityModel:
        """Refit only the calibrator (on raw out-of-time scores and labels), e.g. after adding holdout rows."""
        self._check_fitted()
        chosen = method or self.calibration_method_
        self.calibrator_ = fit_calibrator(chosen, scores, np.asarray(labels))
        self.calibration_method_ = chosen
        return self

    def _rounds(self) -> dict[str, int]:
        if isinstance(self.num_boost_round, Mapping):
            return {str(k): int(v) for k, v in self.num_boost_round.items()}
        n = int(self.num_boost_round)
        return {POOLED: n, **dict.fromkeys(getattr(self, "products_", []), n)}

    def _parts(self, frame: pd.DataFrame, n: int) -> np.ndarray:
        if self.layout == "pooled" or not self.product_column_:
            return np.full(n, POOLED, dtype=object)
        return frame[self.product_column_].astype(str).to_numpy(dtype=object)

    # ---- scoring ----------------------------------------------------------------------------------------
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "boosters_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise TrainingError("this PropensityModel is not fitted yet: call fit first")

    def _bag(self, key: str) -> list[lgb.Booster]:
        """The boosters of a part (a model pickled before seed bags holds a single booster per part)."""
        found = self.boosters_.get(key)
        if found is None:
            return []
        return found if isinstance(found, list) else [found]

    def _matrix(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        if self.product_column_ and self.product_column_ not in frame.columns:
            raise TrainingError(f"input rows lack the product column {self.product_column_!r}")
        return self.encoder_.transform(frame, self.input_columns_), self._parts(frame, len(frame))

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        """Uncalibrated log-odds per row (NaN for a product the model was not trained on, per-product layout)."""
        x, parts = self._matrix(frame)
        out = np.full(len(frame), np.nan)
        for key in np.unique(parts) if len(parts) else []:
            rows = parts == key
            boosters = self._bag(str(key))
            if boosters:
                out[rows] = np.mean(
                    [b.predict(x[rows], raw_score=True, num_threads=self.num_threads) for b in boosters], axis=0
                )
            elif str(key) in self.priors_:
                out[rows] = self.priors_[str(key)]
        unknown = np.isnan(out).sum()
        if unknown:
            log.warning("rows of products the model was not trained on get no score", extra={"rows": int(unknown)})
        return out

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of conversion within the horizon, one per row."""
        return self.calibrate(self.raw_score(frame))

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Probabilities of raw scores through the fitted calibrator (NaN stays NaN)."""
        self._check_fitted()
        raw = np.asarray(raw, dtype="float64")
        out = np.full(len(raw), np.nan)
        ok = ~np.isnan(raw)
        if ok.any():
            out[ok] = self.calibrator_.predict(raw[ok]) if self.calibrator_ is not None else expit(raw[ok])
        return out

    def contributions(self, frame: pd.DataFrame, include_base: bool = False) -> pd.DataFrame:
        """Per-row SHAP contributions (log-odds) of each feature, columns = `feature_names_`.

        With `include_base`, also `product` (pooled layout: the product's own effect) and `base` (the expected
        value), so that a row's contributions sum to its raw score.
        """
        x, parts = self._matrix(frame)
        k = len(self.input_columns_)
        contrib = np.zeros((len(frame), k + 1))
        for key in np.unique(parts) if len(parts) else []:
            rows = parts == key
            boosters = self._bag(str(key))
            if boosters:  # SHAP values are additive: the bag's mean raw score is explained by the mean contributions
                contrib[rows] = np.mean(
                    [b.predict(x[rows], pred_contrib=True, num_threads=self.num_threads) for b in boosters], axis=0
                )
            else:
                contrib[rows, k] = self.priors_.get(str(key), np.nan)
        out = pd.DataFrame(contrib[:, : len(self.feature_names_)], columns=self.feature_names_, index=frame.index)
        if include_base:
            if len(self.input_columns_) > len(self.feature_names_):
                out["product"] = contrib[:, len(self.feature_names_)]
            out["base"] = contrib[:, k]
        return out

    def reason_codes(self, frame: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """Columns `reason_1..reason_top`: plain-language sentences for the top positive contributions."""
        contrib = self.contributions(frame)
        return reason_frame(
            contrib.to_numpy(),
            self.feature_names_,
            frame,
            dict(self.catalog or {}),
            top=top,
            product_column=self.product_column_,
        )

    def feature_importance(self) -> pd.DataFrame:
        """Total gain and split count per input (summed over boosters), highest gain first."""
        self._check_fitted()
        gain = pd.Series(0.0, index=self.input_columns_)
        split = pd.Series(0.0, index=self.input_columns_)
        for boosters in (self._bag(k) for k in self.boosters_):
            for booster in boosters:
                gain += booster.feature_importance("gain") / len(boosters)
                split += booster.feature_importance("split") / len(boosters)
        out = pd.DataFrame({"feature": self.input_columns_, "gain": gain.to_numpy(), "split": split.to_numpy()})
        return out.sort_values("gain", ascending=False, ignore_index=True)

    @property
    def boosters(self) -> dict[str, list[lgb.Booster]]:
        """The fitted LightGBM boosters by part (`"*"` for pooled, else the product), one per seed."""
        self._check_fitted()
        return self.boosters_
