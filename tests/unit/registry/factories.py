"""Factories of a real, small fitted propensity model and of a TrainingResult built from it.

`TinyPropensityModel` implements `training.result.FittedPropensityModel` around a real LightGBM classifier and
an isotonic calibrator, trained on random feature rows; `make_training_result` fills every field of
`TrainingResult` from it with small real frames (holdout scores, metrics, deciles, calibration bins, SHAP
sample, trials), so logging, registration and the pyfunc round trip run end to end without training/.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from training.result import CalibrationReport, Fold, SplitPlan, TrainingResult

PRODUCTS = ("analytics", "automation", "security")
SEGMENTS = ("smb", "mid_market", "enterprise")
TIERS = ("starter", "professional", "enterprise")
DATES = tuple(date(2025, m, 28) for m in range(1, 9))
NUMERIC = ("seats", "events_30d", "feature_share_30d", "nps_latest", "tickets_90d")
CATEGORICAL = ("segment", "primary_tier")
FEATURES = (*NUMERIC, *CATEGORICAL)
#: The pyfunc's inputs: like the real pooled model, the product is an input beside the features.
INPUTS = (*FEATURES, "product")
STRINGS = (*CATEGORICAL, "product")
QUIET = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}


class TinyPropensityModel:
    """LightGBM + isotonic calibration behind the FittedPropensityModel protocol (test double, but real).

    Pooled like `training.model.PropensityModel`: the product is a categorical input besides `feature_names_`.
    """

    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state

    def _encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        if "product" not in frame.columns:
            raise ValueError("input rows lack the product column")
        encoded: dict[str, Any] = {}
        for name in self.input_columns_:
            if name in self.categories_:
                values = [None if pd.isna(v) else v for v in frame[name].astype(object)]
                encoded[name] = pd.Categorical(values, categories=self.categories_[name])
            else:
                encoded[name] = pd.to_numeric(frame[name]).astype("float64")
        return pd.DataFrame(encoded, index=frame.index)

    def fit(self, rows: pd.DataFrame) -> TinyPropensityModel:
        self.feature_names_ = list(FEATURES)
        self.categorical_features_ = list(CATEGORICAL)
        self.products_ = sorted(rows["product"].unique())
        self.calibration_method_ = "isotonic"
        self.input_columns_ = list(INPUTS)
        self.categories_ = {c: sorted(rows[c].dropna().astype(str).unique()) for c in STRINGS}
        features = self._encode(rows)
        self.classifier_ = lgb.LGBMClassifier(
            n_estimators=25,
            num_leaves=7,
            min_child_samples=5,
            learning_rate=0.1,
            n_jobs=1,
            verbose=-1,
            random_state=self.random_state,
        ).fit(features, rows["label"])
        raw = np.asarray(self.classifier_.predict_proba(features))[:, 1]
        self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, rows["label"])
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        raw = np.asarray(self.classifier_.predict_proba(self._encode(frame)))[:, 1]
        return np.asarray(self.calibrator_.predict(raw), dtype=float)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        values = np.asarray(self.classifier_.booster_.predict(self._encode(frame), pred_contrib=True))
        return pd.DataFrame(values[:, : len(self.feature_names_)], columns=self.feature_names_, index=frame.index)

    def reason_codes(self, frame: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        contributions = self.contributions(frame)
        rows = []
        for _, row in contributions.iterrows():
            best = row[row > 0].sort_values(ascending=False).index[:top]
            sentences = [f"{name.replace('_', ' ')} raises the propensity" for name in best]
            rows.append(sentences + [None] * (top - len(sentences)))
        return pd.DataFrame(rows, columns=[f"reason_{i}" for i in range(1, top + 1)], index=frame.index)


def make_feature_rows(accounts: int = 60, seed: int = 0) -> pd.DataFrame:
    """Snapshot rows (keys, label, features) over `DATES`: ints, floats with gaps, strings with gaps."""
    rng = np.random.default_rng(seed)
    n = accounts * len(PRODUCTS) * len(DATES)
    grid = pd.MultiIndex.from_product(
        [[f"001ACC{i:012d}" for i in range(accounts)], PRODUCTS, DATES], names=["account_id", "product", "as_of"]
    ).to_frame(index=False)
    rows = grid.assign(
        seats=rng.integers(1, 200, n),
        events_30d=rng.poisson(300, n),
        feature_share_30d=np.where(rng.random(n) < 0.05, np.nan, rng.random(n)),
        nps_latest=rng.integers(0, 11, n).astype(float),
        tickets_90d=rng.poisson(2, n),
        segment=rng.choice(SEGMENTS, n),
    )
    gap = rng.random(n) < 0.05
    tiers: list[str | None] = [str(t) for t in rng.choice(TIERS, n)]
    for i in np.flatnonzero(gap):
        tiers[i] = None
    rows["primary_tier"] = pd.Series(tiers, dtype=object)
    logit = -3.0 + 3.0 * rows["feature_share_30d"].fillna(0) + 0.01 * rows["seats"] + (rows["segment"] == "enterprise")
    rows["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return rows[["account_id", "product", "as_of", "label", *FEATURES]]


def _metrics(frame: pd.DataFrame, column: str) -> dict[str, float]:
    labels, scores = frame["label"].to_numpy(), frame[column].to_numpy()
    if labels.min() == labels.max():
        return {"brier": float(brier_score_loss(labels, scores))}
    return {
        "pr_auc": float(average_precision_score(labels, scores)),
        "roc_auc": float(roc_auc_score(labels, scores)),
        "brier": float(brier_score_loss(labels, scores)),
    }


def _deciles(holdout: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    out = []
    for model, column in columns.items():
        for product, rows in [("overall", holdout), *holdout.groupby("product")]:
            decile = pd.qcut(rows[column].rank(method="first", ascending=False), 10, labels=range(1, 11))
            grouped = rows.groupby(decile, observed=True)["label"].agg(["size", "sum"]).reset_index()
            for row in grouped.itertuples(index=False):
                out.append(
                    {
                        "model": model,
                        "product": product,
                        "decile": int(row[0]),
                        "rows": int(row[1]),
                        "positives": int(row[2]),
                        "conversion_rate": row[2] / row[1],
                    }
                )
    return pd.DataFrame(out)


def make_training_result(model: TinyPropensityModel, rows: pd.DataFrame, **overrides: Any) -> TrainingResult:
    """A TrainingResult of `model` on `rows`: the last two dates are the holdout, everything computed for real."""
    train_dates, holdout_dates = DATES[:-2], DATES[-2:]
    train = rows[rows["as_of"].isin(train_dates)]
    holdout = rows[rows["as_of"].isin(holdout_dates)].copy()
    holdout["propensity"] = model.predict_proba(holdout)
    holdout["scorecard"] = holdout["seats"].rank(pct=True)
    holdout["logistic"] = 1 / (1 + np.exp(-(holdout["feature_share_30d"].fillna(0.5) * 2 - 1)))
    columns = {"xsell": "propensity", "scorecard": "scorecard", "logistic": "logistic"}
    metrics = {
        name: {"overall": _metrics(holdout, col)} | {str(p): _metrics(g, col) for p, g in holdout.groupby("product")}
        for name, col in columns.items()
    }
    segment_metrics = pd.DataFrame(
        [
            {"model": name, "segment": seg, "rows": len(g), "positives": int(g["label"].sum())}
            | {k: v for k, v in _metrics(g, col).items() if k != "brier"}
            for name, col in columns.items()
            for seg, g in holdout.groupby("segment")
        ]
    )
    bins = pd.cut(holdout["propensity"], [i / 10 for i in range(11)], include_lowest=True, labels=False)
    reliability = (
        holdout.assign(bin=bins)
        .groupby(["product", "bin"])
        .agg(mean_predicted=("propensity", "mean"), observed_rate=("label", "mean"), count=("label", "size"))
        .reset_index()
    )
    ece = {
        str(p): float((g["count"] * (g["mean_predicted"] - g["observed_rate"]).abs()).sum() / g["count"].sum())
        for p, g in reliability.groupby("product")
    }
    ece["overall"] = float(np.mean(list(ece.values())))
    booster = model.classifier_.booster_
    importance = pd.DataFrame(
        {
            "feature": booster.feature_name(),
            "gain": booster.feature_importance("gain"),
            "split": booster.feature_importance("split"),
        }
    )
    sample = holdout.head(60)
    trials = pd.DataFrame(
        {
            "number": range(6),
            "state": ["COMPLETE"] * 4 + ["PRUNED", "FAIL"],
            "value": [0.31, 0.35, 0.33, 0.36, 0.2, np.nan],
            "duration_s": [0.5, 0.6, 0.4, 0.7, 0.1, 0.05],
            "datetime_start": pd.date_range("2025-09-01 10:00", periods=6, freq="min"),
            "params_num_leaves": [7, 15, 31, 7, 63, 15],
            "params_learning_rate": [0.1, 0.05, 0.2, 0.1, 0.3, 0.01],
            "params_min_child_samples": [5, 10, 20, 5, np.nan, 10],
        }
    )
    plan = SplitPlan(
        folds=(Fold(train_dates[:3], train_dates[4:5]), Fold(train_dates[:4], train_dates[5:6])),
        holdout_dates=holdout_dates,
        final_train_dates=train_dates,
        purge_days=30,
        horizon_days=90,
    )
    result = TrainingResult(
        model=model,
        plan=plan,
        best_params={"num_leaves": 7, "learning_rate": 0.1, "n_estimators": 25},
        best_value=0.36,
        objective_metric="pr_auc",
        trials=trials,
        holdout=holdout[["account_id", "product", "as_of", "label", "segment", *columns.values()]].reset_index(
            drop=True
        ),
        metrics=metrics,
        deciles=_deciles(holdout, columns),
        segment_metrics=segment_metrics,
        calibration=CalibrationReport(
            method="isotonic", candidates={"isotonic": 0.012, "platt": 0.018}, ece=ece, reliability=reliability
        ),
        feature_importance=importance,
        shap_sample=model.contributions(sample).reset_index(drop=True),
        shap_sample_values=sample[list(FEATURES)].reset_index(drop=True),
        data_window=(train_dates[0], train_dates[-1]),
        data_hash=hashlib.sha256(pd.util.hash_pandas_object(train, index=False).to_numpy().tobytes()).hexdigest(),
        n_rows=len(train),
        n_positives=int(train["label"].sum()),
        model_layout="pooled",
        input_example=train[list(INPUTS)].head(5).reset_index(drop=True),
    )
    return replace(result, **overrides) if overrides else result
