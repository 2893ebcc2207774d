"""No personal data in MLflow or the logs: a generated export whose CRM accounts also carry contact names and emails
(extra columns, which the contract allows) is consolidated and trained on through the CLI; every artifact of the
registered run (input example, model card, tables, feature catalog, plots, the pickled model), its params and tags,
the model version's tags, and everything the commands logged are scanned for the account names, contact names,
contact emails and product user ids of the export."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from factories import quiet_env, run_xsell

pytestmark = pytest.mark.slow

FIRST = ("Maja", "Oskar", "Priya", "Tomasz", "Ingrid", "Kwame", "Lucia", "Henrik", "Aiko", "Fatima")
LAST = ("Lindqvist", "Okafor", "Ramanathan", "Kowalczyk", "Bergstrom", "Mensah", "Ferreira", "Halvorsen")


def add_contacts(raw: Path) -> dict[str, set[str]]:
    """Add `contact_name` and `contact_email` to every CRM accounts part of `raw` (same format); the personal values
    of the export by kind: account names, contact names, emails (all distinct per account), product user ids."""
    found: dict[str, set[str]] = {"account_name": set(), "contact_name": set(), "contact_email": set()}
    for part in sorted((raw / "crm" / "accounts").iterdir()):
        frame = pd.read_parquet(part) if part.suffix == ".parquet" else pd.read_csv(part, dtype=str)
        codes = frame["account_id"].str.strip().str.upper().map(lambda s: sum(ord(c) * 31**i for i, c in enumerate(s)))
        first = [FIRST[c % len(FIRST)] for c in codes]
        last = [LAST[(c // 7) % len(LAST)] for c in codes]
        suffix = [f"{c % 9973:04d}" for c in codes]
        frame["contact_name"] = [f"{f} {n}-{s}" for f, n, s in zip(first, last, suffix, strict=True)]
        frame["contact_email"] = [
            f"{f.lower()}.{n.lower()}{s}@{re.sub(r'[^a-z]', '', str(a).lower())[:20]}.example"
            for f, n, s, a in zip(first, last, suffix, frame["account_name"], strict=True)
        ]
        if part.suffix == ".parquet":
            frame.to_parquet(part, index=False)
        else:
            frame.to_csv(part, index=False, compression="gzip" if part.name.endswith(".gz") else None)
        for column in found:
            found[column].update(str(v) for v in frame[column].dropna())
    users = pd.concat(
        pd.read_parquet(p, columns=["user_id"])
        if p.suffix == ".parquet"
        else pd.read_csv(p, usecols=["user_id"], dtype=str)
        for p in sorted((raw / "product" / "usage_daily").iterdir())
    )
    found["user_id"] = set(users["user_id"].dropna().astype(str).str.strip()) - {""}
    return found


def file_texts(path: Path) -> list[str]:
    """What a file says: its bytes as text, plus, for a table, its values as CSV (columns may be compressed)."""
    raw = path.read_bytes()
    texts = [raw.decode("utf-8", errors="ignore"), raw.decode("latin-1")]
    if path.suffix == ".parquet":
        buffer = io.StringIO()
        pd.read_parquet(path).to_csv(buffer)
        texts.append(buffer.getvalue())
    return texts


def leaks(texts: dict[str, list[str]], personal: dict[str, set[str]]) -> list[str]:
    """`<where>: <kind> <value>` for every personal value found in any text."""
    found = []
    for where, chunks in texts.items():
        blob = "\n".join(chunks)
        for kind, values in personal.items():
            hits = sorted(v for v in values if len(v) >= 6 and v in blob)
            found += [f"{where}: {kind} {v!r}" for v in hits[:3]]
    return found


def test_no_personal_data_in_mlflow_artifacts_or_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a generated export whose accounts carry contact names and emails
    with quiet_env():
        for key, value in {
            "XSELL_INGEST__GATE__ENABLED": "false",
            "XSELL_TRAINING__N_JOBS": "1",
            "XSELL_TRAINING__N_SEEDS": "2",
        }.items():
            monkeypatch.setenv(key, value)
        home, raw = tmp_path / "home", tmp_path / "raw"
        steps = [("generate", "--out", str(raw), "--accounts", "200", "--start", "2024-01", "--end", "2025-12")]
        done = run_xsell(*steps[0], home=home)
        assert done.returncode == 0, done.stderr[-3000:]
        personal = add_contacts(raw)
        assert all(len(values) >= 50 for values in personal.values()), {k: len(v) for k, v in personal.items()}
        # when it is consolidated and trained on, every command logging at DEBUG
        logs = {"generate": [done.stdout, done.stderr]}
        for step in (("consolidate", "--raw", str(raw)), ("train", "--trials", "2")):
            done = run_xsell("--log-level", "DEBUG", *step, home=home, timeout=900)
            assert done.returncode == 0, f"{step}: {done.stderr[-3000:]}"
            logs[step[0]] = [done.stdout, done.stderr]
        assert "contact_email" in logs["consolidate"][1]  # the unknown columns were seen (and only named)

        # then no personal value is in any artifact of the run, its params and tags, or the version's tags
        from mlflow import MlflowClient
        from mlflow.artifacts import download_artifacts

        uri = f"sqlite:///{home / 'mlflow.db'}"
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        version = client.get_model_version_by_alias("xsell-propensity", "champion")
        run = client.get_run(version.run_id)
        artifacts = tmp_path / "artifacts"
        client.download_artifacts(version.run_id, "", str(artifacts / "run"))
        # the model itself is a logged model (MLflow 3) with its own artifact location: input example, pickle, ...
        logged = client.get_logged_model(version.source.removeprefix("models:/"))
        download_artifacts(artifact_uri=logged.artifact_location, dst_path=str(artifacts / "model"))
        files = [p for p in artifacts.rglob("*") if p.is_file()]
        names = {p.relative_to(artifacts).as_posix() for p in files}
        expected = {"run/model_card.md", "run/feature_catalog.md", "run/plots/shap_summary.png"}
        expected |= {"run/evaluation/deciles.csv", "run/evaluation/holdout_predictions.parquet"}
        assert expected <= names, sorted(names)
        model_files = {n.rsplit("/", 1)[-1] for n in names if n.startswith("model/")}
        assert {"input_example.json", "fitted_model.pkl", "MLmodel"} <= model_files, sorted(names)
        texts = {f"artifact {p.relative_to(artifacts)}": file_texts(p) for p in files}
        texts["run params and tags"] = [repr(run.data.params), repr(run.data.tags)]
        texts["model version tags"] = [repr(version.tags), version.description or ""]
        children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
        texts["trial runs"] = [repr(child.data.params) + repr(child.data.tags) for child in children]
        texts.update({f"log of {step}": chunks for step, chunks in logs.items()})
        assert leaks(texts, personal) == []
    # and the scan does find such values where they are (the raw export), so an empty result means something
    raw_texts = {"raw crm": [t for p in (raw / "crm" / "accounts").iterdir() for t in file_texts(p)]}
    assert leaks(raw_texts, {"contact_email": personal["contact_email"]})
