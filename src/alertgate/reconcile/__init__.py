"""Reconciliation with the sources (SPEC §9): a master whose "resolved" never came (a silenced
alert, a lost webhook, a Zabbix problem closed by hand) is resolved once its source, asked
through its API, no longer has it, twice in a row. ``decide.py`` is the pure decision, one module
per source asks its API, and the worker's clock is ``workers/reconcile_sweep.py``."""
