"""xsell features layer (see README)."""
