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


def key_bytes(ci: str, symptom: str) -> bytes:
    """The (ci, symptom) key as bytes, one way for every pair (what is hashed into its tag).

    Keys have always been ``ci 0x1F symptom``, and that stays so wherever it is unambiguous,
    so that masters stored before still find their duplicates. It is ambiguous when either part
    holds 0x1F (``x\x1fb``/``c`` and ``x``/``b\x1fc`` were one key): those pairs, and a CI that
    starts with NUL, are written ``NUL, len(ci) as 8 bytes, ci, symptom`` instead, which no
    pair of the first form can produce (its first byte is never NUL)."""
    if "\x1f" not in ci and "\x1f" not in symptom and not ci.startswith("\x00"):
        return f"{ci}\x1f{symptom}".encode()
    ci_bytes = ci.encode()
    return b"\x00" + len(ci_bytes).to_bytes(8, "big") + ci_bytes + symptom.encode()


@functools.lru_cache(maxsize=65536)  # a storm repeats few keys; base32 is pure Python
def dedup_tag(ci: str, symptom: str) -> str:
    """13 base32 characters (64 bits) of a hash of the (ci, symptom) key."""
    digest = hashlib.blake2b(key_bytes(ci, symptom), digest_size=8).digest()
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
