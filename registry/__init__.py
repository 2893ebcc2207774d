"""xsell registry layer (see README)."""
