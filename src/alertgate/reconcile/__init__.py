"""The sources' APIs, one adapter module per source (like the intake parsers): asking Alertmanager
and Zabbix which alerts they still have, for reconciliation (SPEC §9: a master whose "resolved"
never came, a silenced alert, a lost webhook, a Zabbix problem closed by hand, is resolved once
its source no longer has it, twice in a row; ``decide.py`` is that pure decision), and pushing
maintenance windows to them as silences and maintenances (SPEC §10). The worker's clocks are
``workers/reconcile_sweep.py`` and ``workers/maintenance_push.py``."""
