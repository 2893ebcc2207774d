"""Online scoring API: app (routes), guard, OpenAPI spec, schemas, serving state, scoring service, shadow log."""
