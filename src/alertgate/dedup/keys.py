"""Redis key names, laid out for Redis Cluster.

A (ci, symptom) key has a *tag* (13 base32 characters of a hash); its tickets are
``INC-<tag>-<n>``. The tag's first character is its *shard*, one of 32, and every key of the
tag lives under the Cluster hash tag of its shard: ``ag:{<shard>}:...``. So the ingest script
can write a ticket and its entry in the shard's creation index atomically, even on a Cluster,
and a ticket id leads to its keys without a lookup. Readers of "all tickets" merge the 32
shard indexes (``index_keys``).

32 shards spread over the masters of a Cluster by CRC16 of the shard name: about 10 on each of
3 masters. A single (ci, symptom) key never spreads further than one master anyway.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@functools.lru_cache(maxsize=65536)  # a storm repeats few keys; base32 is pure Python
def dedup_tag(ci: str, symptom: str) -> str:
    """13 base32 characters (64 bits) of a hash of the (ci, symptom) key."""
    digest = hashlib.blake2b(f"{ci}\x1f{symptom}".encode(), digest_size=8).digest()
    return base64.b32encode(digest).decode().rstrip("=")


def random_tag(shard: str | None = None) -> str:
    """A tag for a ticket that no alert key owns (a user report, a follow-up); in ``shard`` if
    given, so that it can be written in one transaction with a ticket of that shard."""
    tag = base64.b32encode(secrets.token_bytes(8)).decode().rstrip("=")
    return shard + tag[1:] if shard else tag


def shard_of(tag: str) -> str:
    return tag[0]


def state_key(tag: str) -> str:
    """Hash of the key's current master, newest closed master and ticket sequence."""
    return f"ag:{{{shard_of(tag)}}}:k:{tag}"


def occurrence_key(tag: str, occurrence_id: str) -> str:
    return f"ag:{{{shard_of(tag)}}}:o:{tag}:{occurrence_id}"


def ticket_prefix(tag: str) -> str:
    """Ticket hashes are ``<prefix><ticket id>``; the ingest script builds them from this."""
    return f"ag:{{{shard_of(tag)}}}:t:"


def index_key(tag: str) -> str:
    """The shard's ticket index (zset: created_at → ticket id)."""
    return f"ag:{{{shard_of(tag)}}}:created"


def masters_key(tag: str) -> str:
    """The shard's masters (zset: created_at → id), written when a master is created: what the
    worker's sweep walks, however many duplicates storms have left in the ticket index."""
    return f"ag:{{{shard_of(tag)}}}:masters"


INDEX_KEYS = tuple(index_key(shard) for shard in BASE32)
MASTERS_KEYS = tuple(masters_key(shard) for shard in BASE32)
# Set once the masters stored before the masters index existed have been added to it.
MASTERS_INDEXED = "ag:masters-indexed"


def index_keys() -> tuple[str, ...]:
    """Every shard's ticket index."""
    return INDEX_KEYS
