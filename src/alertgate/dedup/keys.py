"""Redis key names. Every key of one (ci, symptom) shares a Cluster hash tag: ``ag:{<tag>}:...``.

The tag is also the middle of the ids of that key's tickets (``INC-<tag>-<n>``), so a ticket id
leads to its keys without a lookup.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

TICKET_INDEX = "ag:index:created"


def dedup_tag(ci: str, symptom: str) -> str:
    """13 base32 characters (64 bits) of a hash of the (ci, symptom) key."""
    digest = hashlib.blake2b(f"{ci}\x1f{symptom}".encode(), digest_size=8).digest()
    return base64.b32encode(digest).decode().rstrip("=")


def random_tag() -> str:
    """A tag for a ticket that no alert key owns (a user report, a follow-up)."""
    return base64.b32encode(secrets.token_bytes(8)).decode().rstrip("=")


def state_key(tag: str) -> str:
    return f"ag:{{{tag}}}:key"


def occurrence_key(tag: str, occurrence_id: str) -> str:
    return f"ag:{{{tag}}}:occ:{occurrence_id}"
