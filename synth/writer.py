"""File output: contract tables to CSV / gzip CSV / parquet, byte-for-byte deterministic, and the
atomic swap of the finished RAW folder into place."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.contract import TableSpec
from synth.errors import GeneratorError
from synth.manifest import MANIFEST_NAME
from synth.timeline import NULL, day_string, iso_string

#: the extra column some files carry, which ingestion must ignore with a warning
EXTRA_COLUMN = "export_batch"
PARQUET_OPTIONS = {"compression": "zstd", "use_dictionary": True, "write_statistics": True}


def output_frame(frame: pd.DataFrame, spec: TableSpec, ts_style: str) -> pd.DataFrame:
    """The contract columns of an internal frame rendered as CSV text values."""
    out: dict[str, Any] = {}
    for col in spec.columns:
        values = frame[col.name]
        if col.type == "timestamp":
            out[col.name] = iso_string(values.to_numpy(dtype=np.int64), ts_style)
        elif col.type == "date":
            out[col.name] = day_string(values.to_numpy(dtype=np.int64))
        elif col.type == "bool":
            out[col.name] = np.where(values.to_numpy(dtype=bool), "true", "false")
        elif col.type == "int":
            out[col.name] = values.astype("Int64")
        elif col.type == "float":
            out[col.name] = values.astype(float)
        else:
            out[col.name] = values.to_numpy(dtype=object)
    return pd.DataFrame(out)


def arrow_table(frame: pd.DataFrame, spec: TableSpec) -> pa.Table:
    """The contract columns of an internal frame as a typed Arrow table (timestamps in UTC)."""
    arrays = {}
    for col in spec.columns:
        values = frame[col.name]
        if col.type == "timestamp":
            raw = values.to_numpy(dtype=np.int64)
            arrays[col.name] = pa.array(raw * 1000, type=pa.int64(), mask=raw == NULL).cast(
                pa.timestamp("ms", tz="UTC")
            )
        elif col.type == "date":
            raw = values.to_numpy(dtype=np.int64)
            arrays[col.name] = pa.array(raw.astype(np.int32), type=pa.int32(), mask=raw == NULL).cast(pa.date32())
        elif col.type == "bool":
            arrays[col.name] = pa.array(values.to_numpy(dtype=bool), type=pa.bool_())
        elif col.type == "int":
            arrays[col.name] = pa.array(values.astype("Int64"), type=pa.int64())
        elif col.type == "float":
            arrays[col.name] = pa.array(values.to_numpy(dtype=float), type=pa.float64(), from_pandas=True)
        else:
            arrays[col.name] = pa.array(values.to_numpy(dtype=object), type=pa.string())
    return pa.table(arrays)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV (gzip-compressed when the name ends in .gz, with a zero mtime and no file name)."""
    text = frame.to_csv(index=False, lineterminator="\n").encode()
    if path.name.endswith(".gz"):
        with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(text)
    else:
        path.write_bytes(text)


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write a parquet file without any wall-clock metadata."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **PARQUET_OPTIONS)
    path.write_bytes(buffer.getvalue())


def write_part(
    frame: pd.DataFrame, spec: TableSpec, path: Path, ts_style: str, extra_column: str | None = None
) -> None:
    """Write one part of a table in the format its file name says (.csv, .csv.gz, .parquet)."""
    if path.suffix == ".parquet":
        table = arrow_table(frame, spec)
        if extra_column is not None:
            table = table.append_column(EXTRA_COLUMN, pa.array([extra_column] * len(frame), type=pa.string()))
        write_parquet(table, path)
        return
    out = output_frame(frame, spec, ts_style)
    if extra_column is not None:
        out[EXTRA_COLUMN] = extra_column
    write_csv(out, path)


# ---- the RAW folder ----------------------------------------------------------------------------
def check_target(out_dir: Path) -> None:
    """Refuse a target that exists, is not empty and is not an earlier generator output."""
    if out_dir.exists() and not out_dir.is_dir():
        raise GeneratorError(f"{out_dir} exists and is not a folder; refusing to replace it")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST_NAME).is_file():
        raise GeneratorError(
            f"{out_dir} is not empty and holds no {MANIFEST_NAME}: it is not a generator output, "
            "refusing to overwrite it"
        )


def staging_dir(out_dir: Path) -> Path:
    """A fresh sibling folder to build the output in (same file system, so the swap is a rename)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))


def swap_into_place(staging: Path, out_dir: Path) -> None:
    """Replace out_dir (absent, empty, or an earlier generator output) with the staging folder."""
    check_target(out_dir)
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.replace(out_dir, old / "previous")
    try:
        os.replace(staging, out_dir)
    except OSError:
        if old is not None:
            os.replace(old / "previous", out_dir)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
