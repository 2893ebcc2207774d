"""xsell monitoring layer (see README)."""
