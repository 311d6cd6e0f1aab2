"""The handbook's incident KPIs (SPEC §6) over a period."""
