"""Point-in-time core: snapshot dates and bounds, the SQL feature families, labels, the feature catalog and the features.* tables (imports ingest, xsell)."""
