"""xsell registry layer: every MLflow call, and the governance around the model registry (see README).

- `client`: the one MLflow client factory (`registry_client`, `existing_registry_client`) and store URI helpers.
- `tracking`: the training experiment, run owner tags, runs left RUNNING by a dead process.
- `run_content`, `provenance`, `log_training`: what a training logs (plain data), where it comes from, and the
  MLflow run that logs and registers it; `model_input`, `pyfunc`, `plots`, `model_card` what goes into it.
- `models`: reading the registry (resolve, load, list versions); `status`: the registry at a glance.
- `aliases`, `access`, `gates`, `gate_checks`: moving the champion, who may, and the promotion gates.
- `audit`, `audit_store`: the append-only audit trail in the warehouse.

The registry never imports `serving`, `deploy`, `flows`, `tasks` or Prefect.
"""
