"""xsell deploy layer (see README)."""
