"""Team-mode operations: credentials, process supervision, PostgreSQL, MLflow and Prefect servers."""
