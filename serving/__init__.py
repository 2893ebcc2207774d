"""Batch scoring, publication, tiers, adoption path, shadow comparison and the serving.* tables (imports registry and below)."""
