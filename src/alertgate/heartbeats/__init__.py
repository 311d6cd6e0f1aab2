"""Heartbeats (SPEC §9): senders and jobs that must report every ``timeout`` (or after each time of
a cron ``schedule``). ``model.py`` the records, ``clock.py`` the pure decisions (deadlines, the
alert an expiry raises), ``store.py`` the Redis adapter. The pings and the expiries go through
the whole pipeline in ``intake/heartbeats.py``; the worker's sweep finds the expiries."""
