"""The raw contract: specs, readers, cleaning, id unification, consolidation into the DuckDB Customer 360 and the data-quality report (imports only xsell)."""
