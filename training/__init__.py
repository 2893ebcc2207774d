"""xsell training layer (see README)."""
