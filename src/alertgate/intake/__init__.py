"""The pipeline without HTTP: a sender's body → Alerts (``sources/``) → rules (``classify``) →
dedup and tickets (``DedupStore``) → the workers' jobs (``handoff``). The gateway, the CLI and
the tests call the same code."""
