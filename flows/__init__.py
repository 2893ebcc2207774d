"""The top floor: the `xsell` command line and thin Prefect flows that wire tasks/ and deploy/ (see ARCHITECTURE.md)."""
