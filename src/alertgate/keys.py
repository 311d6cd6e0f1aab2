"""Redis key names, laid out for Redis Cluster.

A (ci, symptom) key has a *tag* (13 base32 characters of a hash); its tickets are
``INC-<tag>-<n>``. The tag's first character is its *shard*, one of 32, and every key of the
tag lives under the Cluster hash tag of its shard: ``ag:{<shard's hash tag>}:...``. So the
ingest script can write a ticket and its entry in the shard's creation index atomically, even on
a Cluster, and a ticket id leads to its keys without a lookup. Readers of "all tickets" merge
the 32 shard indexes (``index_keys``).

Two layouts of the hash tags (issue #28). Layout 1, the first: the shard character itself. Its
32 slots land 8 / 16 / 8 on the 3 masters of ``redis-cli --cluster create``, and leave masters
of a 6- or 9-master split without any shard. Layout 2: a short text per shard (``BALANCED``)
whose slot lies in the shard's own 1/32 of the slot range, so any even split of the slots over
3, 6, 9 (or 4, 5, 12) masters gets 32/n shards each, ±1. A Redis holds one layout, named in
``ag:layout`` (``dedup/layout.py`` reads it once per process, and a new Redis gets layout 2);
``alertgate migrate-shards`` moves a Redis of layout 1 to layout 2.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
from binascii import crc_hqx

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SLOTS = 16384


class LayoutUnknown(ConnectionError):
    """The Redis's key layout is not read yet (it was unreachable): answered like a Redis fault."""


def _slot(text: str) -> int:
    return crc_hqx(text.encode(), 0) % SLOTS  # Redis Cluster's CRC16 (XMODEM) of a hash tag


def _balanced() -> dict[str, str]:
    """For the i-th shard, the first ``<shard><n>`` whose slot lies in [i, i + 1) × 512."""
    band = SLOTS // len(BASE32)
    tags = {}
    for i, shard in enumerate(BASE32):
        n = 0
        while not i * band <= _slot(f"{shard}{n}") < (i + 1) * band:
            n += 1
        tags[shard] = f"{shard}{n}"
    return tags


BALANCED = _balanced()
_layout: list[int | None] = [None]  # this process's, once read from the Redis (dedup/layout.py)


class _Prefixes(dict):
    """shard → ``ag:{<hash tag>}`` of the layout in use; a lookup before it is known raises."""

    def __missing__(self, shard: str) -> str:
        raise LayoutUnknown("the key layout of the state Redis is not read yet")


_PREFIX = _Prefixes()  # (a dict lookup per key name: key names are built per alert in a storm)


def use_layout(version: int) -> None:
    if version not in (1, 2):
        raise ValueError(f"unknown key layout {version}")
    _layout[0] = version
    _PREFIX.clear()
    script_keys.cache_clear()
    _PREFIX.update({shard: f"ag:{{{shard if version == 1 else BALANCED[shard]}}}" for shard in BASE32})


def layout() -> int | None:
    return _layout[0]


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


@functools.lru_cache(maxsize=65536)  # a storm repeats few keys
def dedup_tag(ci: str, symptom: str) -> str:
    """13 base32 characters (64 bits) of a hash of the (ci, symptom) key."""
    return base32_of_64_bits(hashlib.blake2b(key_bytes(ci, symptom), digest_size=8).digest())


_BASE32_PAIRS = [a + b for a in BASE32 for b in BASE32]   # 10 bits → 2 characters


def base32_of_64_bits(digest: bytes) -> str:
    """``base64.b32encode(digest)`` without its padding, for 8 bytes: in 3.11 b32encode is pure
    Python, three times slower (a new key pays it in every request)."""
    n = int.from_bytes(digest, "big") << 1   # (65 bits: 13 characters of 5)
    pairs = _BASE32_PAIRS
    return (pairs[n >> 55] + pairs[(n >> 45) & 1023] + pairs[(n >> 35) & 1023] + pairs[(n >> 25) & 1023]
            + pairs[(n >> 15) & 1023] + pairs[(n >> 5) & 1023] + BASE32[n & 31])


def random_tag(shard: str | None = None) -> str:
    """A tag for a ticket that no alert key owns (a user report, a follow-up); in ``shard`` if
    given, so that it can be written in one transaction with a ticket of that shard."""
    tag = base64.b32encode(secrets.token_bytes(8)).decode().rstrip("=")
    return shard + tag[1:] if shard else tag


def shard_of(tag: str) -> str:
    return tag[0]


def state_key(tag: str) -> str:
    """Hash of the key's current master, newest closed master and ticket sequence."""
    return f"{_PREFIX[tag[0]]}:k:{tag}"


def occurrence_key(tag: str, occurrence_id: str) -> str:
    return f"{_PREFIX[tag[0]]}:o:{tag}:{occurrence_id}"


def ticket_prefix(tag: str) -> str:
    """Ticket hashes are ``<prefix><ticket id>``; the ingest script builds them from this."""
    return f"{_PREFIX[tag[0]]}:t:"


# Ticket ids. A master is ``INC-<tag>-<n>`` (the key's n-th master; ``ingest.lua`` numbers them),
# its k-th duplicate ``<master id>-<k>``; a ticket of no alert key has a random tag. The id
# carries the tag, so its keys follow without a lookup.

def ticket_id_of(tag: str, n: int) -> str:
    return f"INC-{tag}-{n}"


def tag_of(ticket_id: str) -> str:
    return ticket_id.split("-")[1]


def ticket_key(ticket_id: str) -> str:
    """``INC-<tag>-<n>`` lives at ``ag:{<shard>}:t:INC-<tag>-<n>``: the id carries its slot. The
    k-th duplicate of a master is ``<master id>-<k>``."""
    parts = ticket_id.split("-")
    if (len(parts) not in (3, 4) or parts[0] != "INC" or not parts[1] or parts[1][0] not in BASE32
            or not all(part.isdigit() for part in parts[2:])):   # (no shard: an id no ticket has, not a 503)
        raise KeyError(ticket_id)
    return ticket_prefix(parts[1]) + ticket_id


def master_of_duplicate(ticket_id: str) -> str | None:
    """The master of ``<master id>-<k>``; None for any other id (a master, or a duplicate from
    before that numbering, whose hash names its master). (``ingest.lua`` master_of)"""
    parts = ticket_id.split("-")
    return "-".join(parts[:3]) if len(parts) == 4 else None


def index_key(tag: str) -> str:
    """The shard's ticket index (zset: created_at → ticket id)."""
    return f"{_PREFIX[tag[0]]}:created"


def masters_key(tag: str) -> str:
    """The shard's masters (zset: created_at → id), written when a master is created: what the
    worker's sweep walks, however many duplicates storms have left in the ticket index."""
    return f"{_PREFIX[tag[0]]}:masters"


# Set once the masters stored before the masters index existed have been added to it.
MASTERS_INDEXED = "ag:masters-indexed"


@functools.lru_cache(maxsize=65536)  # built per alert in a storm that repeats few keys
def script_keys(tag: str) -> tuple[str, str, str, str, str]:
    """The ingest script's keys of a tag other than the occurrence's: its state, the shard's
    ticket index and masters, the ticket prefix, and the shard's held occurrences (``dedup/ingest.lua``)."""
    return state_key(tag), index_key(tag), masters_key(tag), ticket_prefix(tag), held_key(tag)


def index_keys() -> tuple[str, ...]:
    """Every shard's ticket index."""
    return tuple(index_key(shard) for shard in BASE32)


def masters_keys() -> tuple[str, ...]:
    """Every shard's masters index."""
    return tuple(masters_key(shard) for shard in BASE32)


# Keys of no (CI, symptom): each in a slot of its own on a Cluster, written one call at a time.
LAYOUT = "ag:layout"                    # which layout this Redis holds (layout.py)
OPEN_BY_PRIORITY = "ag:stats:open"      # hash: priority → unresolved masters (the sweep's count)
RECONCILE_LOCK = "ag:reconcile:lock"    # set for a reconcile interval by the worker that reconciles
PROBLEM_INDEX = "ag:index:problems"     # zset of problem ids
PROBLEM_SEQUENCE = "ag:problems:seq"    # the next problem number


def sweep_lock(part: str) -> str:
    """Held for an interval by the worker whose sweeper runs that part of the sweep (``workers/sweeper.py``)."""
    return f"ag:sweep:lock:{part}"


def first_layout_index_key(shard: str) -> str:
    """A shard's ticket index as the first layout named it (to recognise and move that layout)."""
    return f"ag:{{{shard}}}:created"


def first_layout_prefix(shard: str) -> str:
    return f"ag:{{{shard}}}:"


def balanced_prefix(shard: str) -> str:
    return f"ag:{{{BALANCED[shard]}}}:"


def problem_key(problem_id: str) -> str:
    return f"ag:problem:{problem_id}"


def problem_incidents_key(problem_id: str) -> str:
    return f"ag:problem:{problem_id}:incidents"


def problem_trigger_key(trigger: str) -> str:
    """Which problem a trigger (a recurring key, a closed ticket) opened, so it opens only one."""
    return f"ag:problem-trigger:{trigger}"


def sent_key(dedup_key: str, channel: str, address: str) -> str:
    """Set once a notice went out on a channel to an address: its retry sends only what failed."""
    return f"ag:sent:{dedup_key}:{channel}:{address}"


# Heartbeats (SPEC §9): every heartbeat key shares the hash tag {hb}, so that a ping or an expiry
# is one transaction on a Cluster too (heartbeats are few; their slot is one of many).
HEARTBEAT_NAMES = "ag:{hb}:names"           # set of every heartbeat's name
HEARTBEAT_DEADLINES = "ag:{hb}:deadlines"   # zset: expires_at → name, of heartbeats that can expire


def heartbeat_key(name: str) -> str:
    return f"ag:{{hb}}:hb:{name}"


# Maintenance windows (SPEC §10): the windows share the hash tag {mw}; the occurrences a window
# holds are listed per shard (``held_key``), in the slot of their own keys, by the ingest script.
MAINTENANCE_SEQUENCE = "ag:{mw}:seq"
MAINTENANCE_IDS = "ag:{mw}:ids"          # zset: created_at → window id
MAINTENANCE_VERSION = "ag:{mw}:version"  # new at every change: gateways reload their windows
MAINTENANCE_LIVE = "ag:{mw}:live"        # zset: window id → until when the processes need it (epoch s)
MAINTENANCE_LIVE_BUILT = "ag:{mw}:live-built"   # set once MAINTENANCE_LIVE holds every window
MAINTENANCE_RELEASE_LOCK = "ag:maintenance:release-lock"
CATALOGUE_RECORDS = "ag:{cis}:records"   # hash: CI name → the CI pushed through the API (JSON)
CATALOGUE_VERSION = "ag:{cis}:version"   # new at every change: processes reload the catalogue
CATALOGUE_UNKNOWN = "ag:{cis}:unknown"   # zset: a raw CI no catalogue entry names → alerts seen
TOPOLOGY_RECENT = "ag:{topo}:recent"     # zset: opened at → "<ci> <master id>", masters of parent CIs


def maintenance_key(window_id: str) -> str:
    return f"ag:{{mw}}:w:{window_id}"


def correlated_key(tag: str) -> str:
    """The shard's correlated tickets (zset: created at → id), which the sweep may promote
    (``dedup/ingest.lua`` names it as the masters key plus ``:correlated``)."""
    return f"{masters_key(tag)}:correlated"


def correlated_keys() -> tuple[str, ...]:
    return tuple(correlated_key(shard) for shard in BASE32)


def intents_key(tag: str) -> str:
    """The shard's work intents (stream of ticket, work): written by the ingest script in the call
    that creates, reopens or resolves a master, consumed by the workers (``workers/intents.py``;
    ``dedup/ingest.lua`` names it as the masters key plus ``:intents``)."""
    return f"{masters_key(tag)}:intents"


def cascades_key(tag: str) -> str:
    """The shard's masters whose duplicates are still following them into resolved or closed
    (zset: master id → time of the cascade's last slice; ``tickets/cascade.lua``, which names it
    as the masters key plus ``:cascades``)."""
    return f"{masters_key(tag)}:cascades"


def cascades_keys() -> tuple[str, ...]:
    return tuple(cascades_key(shard) for shard in BASE32)


def intents_keys() -> tuple[str, ...]:
    return tuple(intents_key(shard) for shard in BASE32)


INTENTS_GROUP = "workers"   # the consumer group every worker reads the intents in


def timers_key(tag: str) -> str:
    """The shard's timers (zset: ticket id → its next timer's due epoch), planned by the workers,
    moved into the shard's intents stream once due (``workers/timers.py``)."""
    return f"{masters_key(tag)}:timers"


def timers_keys() -> tuple[str, ...]:
    return tuple(timers_key(shard) for shard in BASE32)


def correlated_children_key(master_id: str) -> str:
    """The correlated tickets linked to a master (list; written after the ingest that linked them)."""
    return f"{ticket_key(master_id)}:correlated"


def major_members_key(major_id: str) -> str:
    """The masters a storm grouped under a major incident (list)."""
    return f"{ticket_key(major_id)}:members"


def storm_keys(symptom: str, service: str) -> tuple[str, str]:
    """A storm group's new masters (zset: opened at → id) and its open major incident (string),
    under one hash tag: the storm script's two keys."""
    digest = hashlib.sha256(f"{service}\x1f{symptom}".encode()).hexdigest()[:20]
    return f"ag:{{storm}}:{digest}:masters", f"ag:{{storm}}:{digest}:major"


def held_key(tag: str) -> str:
    """The shard's occurrences held by a maintenance window (zset: held at → occurrence key)."""
    return f"{_PREFIX[tag[0]]}:held"


def held_keys() -> tuple[str, ...]:
    return tuple(held_key(shard) for shard in BASE32)


def console_session_key(session_id: str) -> str:
    """A console session (console/session.py), under the SHA-256 of the cookie's value: the key
    names tell nothing that would open a session."""
    return f"ag:console:session:{hashlib.sha256(session_id.encode()).hexdigest()}"
