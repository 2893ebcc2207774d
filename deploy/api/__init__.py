"""Online scoring API: app, request guard, OpenAPI spec, scoring service and shadow log."""
