"""Deduplication: which deliveries were seen, and (issue 3) the dedup decision per (ci, symptom)."""
