"""Redis key names. Every key of one dedup key shares a Cluster hash tag: ``ag:{<hash>}:...``."""

from __future__ import annotations

from alertgate.gateway.sources.common import stable_hash


def dedup_tag(ci: str, symptom: str) -> str:
    """The hash tag of a (ci, symptom) pair; all its keys land in one Redis Cluster slot."""
    return stable_hash(ci, symptom)[:16]


def occurrence_key(tag: str, occurrence_id: str) -> str:
    return f"ag:{{{tag}}}:occ:{occurrence_id}"
