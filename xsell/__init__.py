"""xsell: cross-sell propensity platform."""
