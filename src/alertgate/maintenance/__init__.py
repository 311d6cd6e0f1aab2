"""Maintenance windows (SPEC §10): API objects with matchers and an optional RRULE. While one is
active, the firing alerts it matches are held (recorded, answered ``suppressed``, no ticket);
when it ends, every held occurrence still firing goes through the pipeline then, with its true
outage start. ``model.py`` the records, ``schedule.py`` and ``match.py`` the pure rules,
``store.py`` the Redis adapter, ``active.py`` each gateway process's view of the active ones."""
