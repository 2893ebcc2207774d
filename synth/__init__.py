"""Synthetic RAW exports that follow the data contract: a simulated B2B SaaS world with recorded defects."""

from synth.errors import GeneratorError
from synth.generate import generate_raw
from synth.manifest import MANIFEST_NAME, GenerationManifest, TableCounts
from synth.writer import EXTRA_COLUMN

__all__ = ["EXTRA_COLUMN", "MANIFEST_NAME", "GenerationManifest", "GeneratorError", "TableCounts", "generate_raw"]
