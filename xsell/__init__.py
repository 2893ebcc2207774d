"""xsell plumbing under every layer: settings, logging, atomic files, DuckDB helpers, locks, runtime environment (imports no layer)."""
