"""xsell serving layer: batch scoring, publication, tiers, adoption path, shadow comparison and the serving.* tables."""
