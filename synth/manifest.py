"""What a generator run wrote and injected: `generator_manifest.json` at the RAW root."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "generator_manifest.json"

BASE_COUNT_KEYS = (
    "rows_written",
    "duplicates",
    "invalid",
    "future_dated",
    "orphans",
    "rows_kept",
    "id_whitespace",
    "id_case",
)


@dataclass
class TableCounts:
    """Rows written to one contract table and the defects among them.

    `rows_kept = rows_written - duplicates - invalid - future_dated - orphans`; id whitespace/case
    rows are kept rows. `extra` holds table-specific counts: `nulled_<column>` for every value column
    (kept rows whose value ingestion nulls), `late_rows`.
    """

    rows_written: int = 0
    duplicates: int = 0
    invalid: int = 0
    future_dated: int = 0
    orphans: int = 0
    id_whitespace: int = 0
    id_case: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def rows_kept(self) -> int:
        """Rows an ingestion keeps (duplicates, invalid, future-dated and orphan rows set aside)."""
        return self.rows_written - self.duplicates - self.invalid - self.future_dated - self.orphans

    def add(self, other: TableCounts) -> None:
        """Accumulate another part's counts into this one."""
        for key in BASE_COUNT_KEYS:
            if key != "rows_kept":
                setattr(self, key, getattr(self, key) + getattr(other, key))
        for key, value in other.extra.items():
            self.extra[key] = self.extra.get(key, 0) + value

    def to_dict(self) -> dict[str, int]:
        """JSON form, keys in manifest order."""
        out = {key: int(getattr(self, key)) for key in BASE_COUNT_KEYS}
        out.update({key: int(value) for key, value in self.extra.items()})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, int]) -> TableCounts:
        """Inverse of `to_dict`."""
        base = {k: int(v) for k, v in data.items() if k in BASE_COUNT_KEYS and k != "rows_kept"}
        extra = {k: int(v) for k, v in data.items() if k not in BASE_COUNT_KEYS}
        return cls(**base, extra=extra)


@dataclass
class GenerationManifest:
    """A generator run: its inputs, the export time, per-table counts, conversions and odd files."""

    seed: int
    accounts: int
    start: str
    end: str
    export_time: str
    drift_at: str | None
    drift_kind: str | None
    catalog: dict[str, Any]
    tables: dict[str, TableCounts]
    conversions: dict[str, int]
    unknown_column_files: list[str]
    #: the defect rates the run used (`generator.defects.*`)
    defects: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form with the documented keys."""
        return {
            "seed": self.seed,
            "accounts": self.accounts,
            "start": self.start,
            "end": self.end,
            "export_time": self.export_time,
            "drift_at": self.drift_at,
            "drift_kind": self.drift_kind,
            "catalog": self.catalog,
            "tables": {name: counts.to_dict() for name, counts in self.tables.items()},
            "conversions": dict(self.conversions),
            "unknown_column_files": list(self.unknown_column_files),
            "defects": dict(self.defects),
        }

    def write(self, raw_dir: Path) -> Path:
        """Write `generator_manifest.json` into the RAW root; returns its path."""
        path = raw_dir / MANIFEST_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, raw_dir: Path) -> GenerationManifest:
        """Read the manifest a run left in `raw_dir`."""
        data = json.loads((raw_dir / MANIFEST_NAME).read_text())
        return cls(
            seed=data["seed"],
            accounts=data["accounts"],
            start=data["start"],
            end=data["end"],
            export_time=data["export_time"],
            drift_at=data["drift_at"],
            drift_kind=data["drift_kind"],
            catalog=data["catalog"],
            tables={name: TableCounts.from_dict(c) for name, c in data["tables"].items()},
            conversions=data["conversions"],
            unknown_column_files=data["unknown_column_files"],
            defects=data.get("defects", {}),
        )
