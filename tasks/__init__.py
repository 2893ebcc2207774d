"""Prefect task wrappers: a few lines each (name, retries on I/O, no input caching)."""
