"""Benchmark: the tuned Optuna objective against a naive one, and full training time and memory by size.

    python -m bench.training --accounts 2000 20000 --months 30 --trials 50 --objective-trials 30

For each size: generate (cached by size, period, seed and usage density) and consolidate an export (cached), then
materialise its labelled month-end snapshots in a child process. Then, in fresh child processes:

1. objective (first size only): the same search space, seeded TPE sampler and number of trials on the same
   time-based folds. *Naive* builds new datasets from the pandas frame in every trial (categories as pandas
   `category`), no pruning, one Optuna worker with every core for LightGBM. *Tuned* is the pipeline's objective:
   LightGBM datasets built once per fold before the study, the median pruner fed inside each fold (every
   `prune_every_rounds` rounds) and after it,
   `n_jobs` Optuna workers x `num_threads` LightGBM threads from the settings. Trials per minute depend on which
   parameters are tried (a low learning rate boosts for hundreds of rounds), and parallel workers make TPE's
   sequence non-deterministic, so the tuned objective is timed on the naive study's own parameter sequence
   (enqueued, same order): the ratio measures the objective alone, and both best values are printed (pruning may
   only lose a trial the median says is poor). A free-running tuned study (its own TPE, parallel workers) is
   reported too.
2. train (every size): `load_training_frame` + `train_propensity` with `--trials` trials (the whole run: tuning,
   calibration, final model, baselines, explanations, refit); wall time and peak RSS of that child.

Targets (issue 4): tuned >= 3x the naive trials per minute; 50 trials at 2,000 accounts <= 3 minutes on 2 cores.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from typing import Any

from bench.measure import (
    bench_parser,
    bench_settings,
    ensure_consolidated,
    ensure_export,
    last_month,
    run_child,
    run_child_kind,
)
from features.schema import KEY_COLUMNS
from features.store import connect_warehouse
from training.boosting import POOLED, base_params, build_fold_sets
from training.dataset import load_training_frame
from training.encoding import TableEncoder
from training.metrics import objective_score
from training.objective import CVObjective, suggest_params
from training.pipeline import train_propensity
from training.splits import assign_rows, plan_time_splits
from training.study import create_study, make_pruner


def _load(settings: Any) -> Any:

    con = connect_warehouse(settings)
    try:
        return load_training_frame(con, settings)
    finally:
        con.close()


def _child_materialise(home: str) -> None:
    settings = bench_settings(home)
    started = time.perf_counter()
    frame = _load(settings)
    print(
        json.dumps(
            {"rows": len(frame), "positives": int(frame["label"].sum()), "seconds": time.perf_counter() - started}
        )
    )


def _child_train(home: str, trials: str) -> None:

    settings = bench_settings(home)
    started = time.perf_counter()
    frame = _load(settings)
    loaded = time.perf_counter()
    result = train_propensity(frame, settings, trials=int(trials))
    done = time.perf_counter()
    m = result.metrics["xsell"]["overall"]
    print(
        json.dumps(
            {
                "rows": len(frame),
                "load_s": loaded - started,
                "train_s": done - loaded,
                "trials": len(result.trials),
                "pruned": int((result.trials["state"] == "PRUNED").sum()),
                "best_value": result.best_value,
                "roc_auc": m["roc_auc"],
                "pr_auc": m["pr_auc"],
                "ece": result.calibration.ece["overall"],
                "timings_s": result.extra["timings_s"],
            }
        )
    )


class NaiveObjective:
    """A first notebook's objective: new datasets from the pandas frame in every trial and fold, no pruning."""

    def __init__(self, frame: Any, labels: Any, folds: Any, features: list[str], base: dict[str, Any], **kw: Any):
        self.frame, self.labels, self.folds, self.features, self.base = frame, labels, folds, features, base
        self.max_rounds, self.early_stopping_rounds = kw["max_rounds"], kw["early_stopping_rounds"]
        self.max_pos_weight, self.metric, self.groups = kw["max_pos_weight"], kw["metric"], kw["groups"]

    def __call__(self, trial: Any) -> float:
        import lightgbm as lgb
        import numpy as np
        from scipy.special import expit

        params = {**self.base, **suggest_params(trial, max_pos_weight=self.max_pos_weight)}
        values = []
        for train, valid in self.folds:
            x_train, x_valid = self.frame.iloc[train][self.features], self.frame.iloc[valid][self.features]
            data = lgb.Dataset(x_train, self.labels[train], params={"verbose": -1})
            check = lgb.Dataset(x_valid, self.labels[valid], reference=data)
            booster = lgb.train(
                params,
                data,
                num_boost_round=self.max_rounds,
                valid_sets=[check],
                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
            )
            raw = booster.predict(x_valid, num_iteration=booster.best_iteration, raw_score=True)
            groups = self.groups[valid] if self.groups is not None else None
            values.append(objective_score(self.metric, self.labels[valid], expit(raw), groups))
        return float(np.mean(values))


def _child_objective(home: str, trials: str) -> None:
    import numpy as np
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = bench_settings(home)
    cfg, n = settings.training, int(trials)
    frame = _load(settings).sort_values(["as_of", "account_id", "product"], kind="stable").reset_index(drop=True)
    labels = frame["label"].to_numpy()
    plan = plan_time_splits(sorted(set(frame["as_of"])), horizon_days=settings.features.horizon_days)
    plan, rows = assign_rows(plan, frame["as_of"], labels)
    features = [c for c in frame.columns if c not in KEY_COLUMNS] + ["product"]
    categorical = ["segment", "industry", "primary_tier", "product"]
    y_final = labels[rows.final_train]
    ratio = float((len(y_final) - y_final.sum()) / y_final.sum())
    common = {
        "max_rounds": cfg.max_rounds,
        "early_stopping_rounds": cfg.early_stopping_rounds,
        "max_pos_weight": ratio,
        "metric": cfg.objective_metric,
        "groups": frame["product"].astype(str).to_numpy(dtype=object)
        if cfg.objective_average == "per_product"
        else None,
    }

    def run(objective: Any, n_jobs: int, pruner: Any, name: str, replay: Any = None) -> dict[str, Any]:
        with contextlib.suppress(KeyError):  # a study left by an interrupted run would be resumed, not rerun
            optuna.delete_study(study_name=name, storage=settings.optuna_uri)
        study = create_study(settings.optuna_uri, name, direction="maximize", seed=settings.seed)
        study.pruner = pruner
        for params in replay or []:
            study.enqueue_trial(params)
        started = time.perf_counter()
        study.optimize(objective, n_trials=n, n_jobs=n_jobs)
        seconds = time.perf_counter() - started
        pruned = sum(t.state.name == "PRUNED" for t in study.trials)
        out = {"seconds": seconds, "trials_per_min": 60 * n / seconds, "best": study.best_value, "pruned": pruned}
        return out | {"params": [t.params for t in sorted(study.trials, key=lambda t: t.number)]}

    # naive: pandas categories, new datasets every trial, no pruning, one worker using every core
    plain = frame[features].copy()
    for c in categorical:
        plain[c] = plain[c].astype("category")
    for c in plain.columns:
        if str(plain[c].dtype) == "Int64":
            plain[c] = plain[c].astype("float64")
    base = base_params(seed=settings.seed, num_threads=cfg.num_threads, objective_metric=cfg.objective_metric)
    naive_base = {k: v for k, v in base.items() if k != "force_row_wise"} | {
        "num_threads": cfg.n_jobs * cfg.num_threads
    }
    naive = run(
        NaiveObjective(plain, labels, rows.folds, features, naive_base, **common),
        1,
        optuna.pruners.NopPruner(),
        "naive",
    )

    # tuned: datasets once (timed with the study), pruning, the configured workers and threads
    def tuned_run(name: str, replay: Any) -> dict[str, Any]:
        started = time.perf_counter()
        encoder = TableEncoder(features, categorical).fit(frame.iloc[rows.final_train])
        x = encoder.transform(frame)
        cat_idx = [features.index(c) for c in categorical]
        parts = np.full(len(frame), POOLED, dtype=object)
        groups = frame["product"].astype(str).to_numpy(dtype=object)
        folds = [build_fold_sets(x, labels, parts, tr, va, features, cat_idx, groups) for tr, va in rows.folds]
        build_s = time.perf_counter() - started
        kw = {k: v for k, v in common.items() if k not in ("metric", "groups")}
        objective = CVObjective(
            folds, base, metric=cfg.objective_metric, check_every=cfg.prune_every_rounds,
            per_product_objective=cfg.objective_average == "per_product", **kw,
        )  # fmt: skip
        out = run(objective, cfg.n_jobs, make_pruner(), name, replay)
        out["seconds"] += build_s
        out["trials_per_min"] = 60 * n / out["seconds"]
        return out | {"dataset_build_s": build_s}

    tuned = tuned_run("tuned", naive["params"])
    free = tuned_run("tuned-free", None)
    for r in (naive, tuned, free):
        r.pop("params")
    print(
        json.dumps(
            {
                "rows": len(frame),
                "folds": len(rows.folds),
                "trials": n,
                "n_jobs": cfg.n_jobs,
                "num_threads": cfg.num_threads,
                "tuned": tuned,
                "naive": naive,
                "tuned_free": free,
                "speedup": tuned["trials_per_min"] / naive["trials_per_min"],
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    """Prepare each size (cached), compare the objectives on the first, time full training on each; print tables."""
    parser = bench_parser(__doc__)
    parser.add_argument("--trials", type=int, default=50, help="trials of each full training run")
    parser.add_argument("--objective-trials", type=int, default=30, help="trials of each objective in the comparison")
    args = parser.parse_args(argv)
    if args.child:
        run_child_kind(
            args.child, {"materialise": _child_materialise, "train": _child_train, "objective": _child_objective}
        )
        return 0

    end = last_month(args.start, args.months)
    trains, objective = [], None
    for i, accounts in enumerate(args.accounts):
        raw = ensure_export(args.work, accounts, args.start, end, args.seed)
        home = args.work / f"training-home-{accounts}"
        ensure_consolidated(raw, home)
        prep = run_child("bench.training", ["--child", "materialise", str(home)])
        print(
            f"{accounts:,} accounts: {prep.result['rows']:,} labelled rows ready in {prep.seconds:.1f} s",
            file=sys.stderr,
        )
        if i == 0:
            run = run_child("bench.training", ["--child", "objective", str(home), str(args.objective_trials)])
            objective = {**run.result, "accounts": accounts}
            print(f"objective comparison: {json.dumps(objective)}", file=sys.stderr)
        run = run_child("bench.training", ["--child", "train", str(home), str(args.trials)])
        trains.append({**run.result, "accounts": accounts, "wall_s": run.seconds, "peak_mb": run.peak_rss_mb})
        print(f"training {accounts:,} accounts: {json.dumps(trains[-1])}", file=sys.stderr)

    if objective:
        t, n = objective["tuned"], objective["naive"]
        print(
            f"objective on {objective['accounts']:,} accounts ({objective['rows']:,} rows, {objective['folds']} folds,"
            f" {objective['trials']} trials, same TPE seed):"
        )
        print(f"{'':>14} {'trials/min':>10} {'seconds':>8} {'pruned':>6} {'best':>8}")
        rows_ = (("naive", n), ("tuned", t), ("tuned, own TPE", objective["tuned_free"]))
        for name, r in rows_:
            print(f"{name:>14} {r['trials_per_min']:>10.1f} {r['seconds']:>8.1f} {r['pruned']:>6} {r['best']:>8.4f}")
        print(
            f"speed-up {objective['speedup']:.1f}x on the same parameters (target >= 3x); best values"
            f" {t['best']:.4f} (tuned) vs {n['best']:.4f} (naive)"
        )
    print(
        f"{'accounts':>9} {'rows':>8} {'trials':>6} {'pruned':>6} {'wall s':>7} {'load s':>6} {'train s':>7}"
        f" {'peak MB':>8} {'ROC-AUC':>7} {'PR-AUC':>6} {'ECE':>6}"
    )
    for r in trains:
        print(
            f"{r['accounts']:>9,} {r['rows']:>8,} {r['trials']:>6} {r['pruned']:>6} {r['wall_s']:>7.1f} {r['load_s']:>6.1f}"
            f" {r['train_s']:>7.1f} {r['peak_mb']:>8,.0f} {r['roc_auc']:>7.3f} {r['pr_auc']:>6.3f} {r['ece']:>6.3f}"
        )
    print("target: 50 trials at 2,000 accounts <= 180 s on 2 cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
