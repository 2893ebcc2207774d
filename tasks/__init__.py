"""Prefect @task wrappers of a few lines over the plain functions of ingest/ .. serving/ (name, retries on I/O, no caching)."""
