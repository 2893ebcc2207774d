"""Benchmark: does the tuned model beat the RevOps scorecard and a logistic regression on the holdout?

    python -m bench.model_quality --accounts 2000 --sample ../shared/sample-raw --trials 50 --seeds 42 7

For a generated export (cached by size, period and seed) and, when given, an external export such as the sample,
each consolidated into its own home under `--work`: load the labelled snapshots, then for each training seed run
`train_propensity` in a child process (a fresh Optuna study each time) and print, per product and overall, the
holdout ROC-AUC and PR-AUC of the model and both baselines, the model's ECE, and a 90% bootstrap interval of the
model's lead over the logistic regression (the stronger baseline). The holdout is the most recent fully labelled
period, never seen by tuning: nothing here selects anything on it.

Target (issue 4): the model beats both baselines on ROC-AUC and PR-AUC for every product, ECE <= 0.02 overall.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.measure import bench_parser, bench_settings, ensure_consolidated, ensure_export, last_month, run_child
from bench.training import _load
from training.metrics import bootstrap_ranking
from training.pipeline import train_propensity

MODELS = ("xsell", "logistic", "scorecard")
BOOTSTRAP = 400


def _child_evaluate(home: str, trials: str, seed: str) -> None:
    import numpy as np

    settings = bench_settings(home, seed=int(seed))
    frame = _load(settings)
    result = train_propensity(frame, settings, trials=int(trials))
    hold = result.holdout
    rows = []
    for product in ["overall", *sorted(set(hold["product"]))]:
        sub = hold if product == "overall" else hold[hold["product"] == product]
        y = sub["label"].to_numpy()
        row: dict[str, Any] = {"product": product, "rows": len(sub), "positives": int(y.sum())}
        for model in MODELS:
            if model in result.metrics:
                m = result.metrics[model][product]
                row[model] = {"roc_auc": m["roc_auc"], "pr_auc": m["pr_auc"]}
        row["ece"] = result.calibration.ece[product]
        boot = bootstrap_ranking(
            y, {"xsell": sub["propensity"].to_numpy(), "logistic": sub["logistic"].to_numpy()}, resamples=BOOTSTRAP
        )
        leads = {k: boot["xsell"][k] - boot["logistic"][k] for k in ("roc_auc", "pr_auc")}
        row["lead_ci"] = {k: [float(np.percentile(v, 5)), float(np.percentile(v, 95))] for k, v in leads.items()}
        rows.append(row)
    print(json.dumps({"seed": int(seed), "layout": result.model_layout, "rows": rows}))


def _print(name: str, run: dict[str, Any]) -> bool:
    """Print one training's holdout table; True when it meets the target."""
    print(f"\n{name}, training seed {run['seed']} ({run['layout']} layout): holdout ROC-AUC / PR-AUC")
    print(
        f"{'product':>12} {'pos':>4} {'xsell':>13} {'logistic':>13} {'scorecard':>13} {'ECE':>6}"
        f" {'lead ROC (90%)':>16} {'lead PR (90%)':>16} beats both"
    )
    ok = True
    for r in run["rows"]:
        cells = [f"{r[m]['roc_auc']:.3f} / {r[m]['pr_auc']:.3f}" if m in r else f"{'n/a':>13}" for m in MODELS]
        beats = all(r["xsell"][k] > r[m][k] for m in MODELS[1:] if m in r for k in ("roc_auc", "pr_auc"))
        ok &= beats
        ci = r["lead_ci"]
        print(
            f"{r['product']:>12} {r['positives']:>4} {cells[0]:>13} {cells[1]:>13} {cells[2]:>13} {r['ece']:>6.3f}"
            f" {ci['roc_auc'][0]:>+7.3f}..{ci['roc_auc'][1]:<+7.3f} {ci['pr_auc'][0]:>+7.3f}..{ci['pr_auc'][1]:<+7.3f}"
            f" {'yes' if beats else 'NO'}"
        )
    overall = next(r for r in run["rows"] if r["product"] == "overall")
    return ok and overall["ece"] <= 0.02


def main(argv: list[str] | None = None) -> int:
    """Evaluate on the generated export and the optional external one; print the tables and the verdict."""
    parser = bench_parser(__doc__)
    parser.set_defaults(accounts=[2000])
    parser.add_argument("--sample", type=Path, help="an external raw export to evaluate on as well")
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="training seeds (one run each)")
    args = parser.parse_args(argv)
    if args.child:
        _child_evaluate(*args.child[1:])
        return 0

    datasets: list[tuple[str, Path]] = []
    for accounts in args.accounts:
        raw = ensure_export(args.work, accounts, args.start, last_month(args.start, args.months), args.seed)
        home = args.work / f"quality-home-{accounts}"
        ensure_consolidated(raw, home)
        datasets.append((f"generated {accounts:,} accounts", home))
    if args.sample:
        home = args.work / "quality-home-sample"
        ensure_consolidated(args.sample, home)
        datasets.append((f"external export {args.sample}", home))
    verdicts = []
    for name, home in datasets:
        for seed in args.seeds:
            run = run_child("bench.model_quality", ["--child", "evaluate", str(home), str(args.trials), str(seed)])
            verdicts.append((name, seed, _print(name, run.result), run.seconds, run.peak_rss_mb))
    print("\ntarget: beats both baselines on ROC-AUC and PR-AUC for every product, ECE <= 0.02 overall")
    for name, seed, ok, seconds, peak in verdicts:
        print(f"  {name}, seed {seed}: {'met' if ok else 'NOT met'} (training {seconds:.0f} s, peak {peak:,.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
