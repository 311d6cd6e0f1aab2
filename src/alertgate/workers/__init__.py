"""RQ workers: dispatch, notifications, escalation and SLA timers."""
