"""`xsell train --table` with a fine-grained time column, through the real CLI: a daily date column is cut into
periods with a purge, the plan is printed, `xsell predict` scores the later rows, and a grain that cannot work is
one `error:` line that says what to change."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from factories import quiet_env, run_xsell

from tests.unit.training.conftest import marketing_table

pytestmark = pytest.mark.slow


def test_a_daily_table_trains_on_purged_periods_and_predicts_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given 3,000 rows over a year with a daily date column (each day would be its own period): the first 2,400
    # (May to December 2008) to train on, the 600 later rows to predict
    table = marketing_table(3000, seed=4, dated=True, days=365)
    train, rest = tmp_path / "train.csv", tmp_path / "rest.csv"
    table.iloc[:2400].to_csv(train, index=False)
    table.iloc[2400:].drop(columns="y").to_csv(rest, index=False)
    home, out = tmp_path / "home", tmp_path / "scores.csv"
    with quiet_env():
        for key, value in {"N_JOBS": "1", "N_SEEDS": "1", "MAX_ROUNDS": "150"}.items():
            monkeypatch.setenv(f"XSELL_TRAINING__{key}", value)
        # when trained with the date as --time and no grain
        command = ("train", "--table", str(train), "--label", "y", "--time", "t")
        done = run_xsell(*command, "--trials", "2", home=home, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        # then the plan is printed: the coarsest grain with 7 periods (quarters are too few), one purged period
        assert "3 expanding folds over 8 periods (by month), purge gap 1 period" in done.stderr
        assert "P8     2008-12-01 2008-12-28" in done.stderr  # the last month, cut short by the end of the rows
        assert "holdout: train P1..P6 (1,988 rows) -> evaluate P8 (182 rows" in done.stderr
        registered = json.loads(done.stdout)
        assert registered["metrics"]["rows"] == (table.iloc[:2400]["t"] >= "2008-12-01").sum() == 182
        # and the later rows are predicted by the registered model
        scored = run_xsell("predict", "--table", str(rest), "--model", registered["model_uri"], "--out", str(out),
                           home=home, timeout=300)  # fmt: skip
        assert scored.returncode == 0, scored.stderr[-3000:]
        scores = pd.read_csv(out)
        assert len(scores) == 600 and scores["propensity"].between(0, 1).all()
        assert scores["propensity"].nunique() > 10
        # and a grain that leaves too few periods is one line naming a grain that works
        refused = run_xsell(*command, "--time-grain", "quarter", home=home, timeout=300)
    assert refused.returncode == 2
    assert "error: time column 't': --time-grain quarter gives 3 periods; need at least 7: use --time-grain month" in (
        " ".join(refused.stderr.split())
    )
    assert "Traceback" not in refused.stderr
