"""Evidently drift, realised performance, the decision policy and its history, the replay and the governance site (imports registry and below)."""
