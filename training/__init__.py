"""Model fitting: training frames, time-based CV, the Optuna objective, study and drivers, LightGBM, calibration, evaluation, baselines and reason codes (imports features, ingest, xsell)."""
