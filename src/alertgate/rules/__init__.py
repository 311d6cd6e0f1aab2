"""Rules: what the gateway decides about an alert before dedup (suppress, classify, prioritise, route)."""
