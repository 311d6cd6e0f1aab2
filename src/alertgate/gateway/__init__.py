"""HTTP only: the ingest routes (over ``intake/``), the ticket, rules and report API, credentials,
errors as JSON, OpenAPI, health and metrics endpoints."""
