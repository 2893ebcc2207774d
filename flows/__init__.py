"""Thin Prefect flows and the `xsell` command line (the top floor)."""
