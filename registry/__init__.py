"""Every MLflow call: run logging, registration, aliases, promotion gates (shadow runs passed in), access and audit (imports training and below; never serving)."""
