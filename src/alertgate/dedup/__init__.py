"""Deduplication: the decision per (CI, symptom) key (``decide.py``, pure) and its atomic
application in Redis (``ingest.lua``, sent by ``store.py`` and ``calls.py``); ``layout.py`` reads
which key layout a Redis holds."""
