"""The raw contract: specs, readers, cleaning, id unification, consolidation and the data-quality report."""
