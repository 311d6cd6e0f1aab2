"""Rules per second: the shipped rule files evaluated by the engine, without and with the cache.

    .venv/bin/python bench/rules_bench.py [N]

New keys: every alert has a new (ci, symptom), so the whole-evaluation cache never answers; each
stage is answered from its own cache when the facts its rules read (a regex's result, not the value
it ran on) were seen before, else it runs on durable_rules.
Storm: 1,000 CIs × 10 alert names cycled, as in an alert storm; the cache answers repeats.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from alertgate.rules.service import RulesService
from alertgate.tickets.alert import Alert, AlertStatus

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime.now(timezone.utc)
NAMES = ["DiskFull", "HighCPULoad", "InterfaceDown", "BackupFailed", "SSLCertExpiring", "FanFailure",
         "ServiceDown", "MemoryPressure", "Something", "LatencyHigh"]
SEVERITIES = ["critical", "high", "warning", "info"]


def alert(n: int, ci: str, name: str) -> Alert:
    return Alert(source="alertmanager", occurrence_id=f"am:{n}", ci=ci, symptom=name, status=AlertStatus.FIRING,
                 severity=SEVERITIES[n % 4], title=name, observed_at=NOW, received_at=NOW,
                 labels={"alertname": name, "instance": f"{ci}:9100", "job": "node"})


def run(label: str, alerts: list[Alert], service: RulesService) -> None:
    started = time.perf_counter()
    for a in alerts:
        service.engine.evaluate(a, NOW)
    elapsed = time.perf_counter() - started
    print(f"{label:<34} {len(alerts) / elapsed:>10,.0f} alerts/s  ({elapsed * 1e6 / len(alerts):.1f} µs each)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    service = RulesService(ROOT / "config", 1800.0)
    assert not service.reload()
    print(f"{service.engine.rule_count} shipped rules, 4 stages")
    run("new key every alert", [alert(i, f"host{i}", NAMES[i % 10]) for i in range(n)], service)
    storm = [alert(i, f"host{i % 1000}", NAMES[(i // 1000) % 10]) for i in range(n * 5)]
    service.reload()  # a fresh cache
    run("storm, 1,000 CIs x 10 names (cached)", storm, service)


if __name__ == "__main__":
    main()
