"""Timers fired per CPU-second by the worker's dispatcher (the aftermath of a storm).

    .venv/bin/python bench/timer_rate.py [--masters 2000]

A fresh embedded Redis; ``--masters`` P3 masters created as the gateway creates them (on the log
channel) and dispatched (untimed); the shipped tables, except that a P3 escalates after 1 s
(to the project manager) and 2 s (the maintenance engineer), so that each master has timers due
at once. Then one intents consumer, in this process, moves and fires every due timer until none
is left: reported are its wall and CPU seconds, tickets fired per CPU-second, and the check that
every master was escalated to level 2, once each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
from alertgate.runtime.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from dispatch_rate import seed, settings_env  # noqa: E402


def escalating_config(work: Path) -> Path:
    config = work / "config"
    shutil.copytree(ROOT / "config", config)
    tables = yaml.safe_load((config / "tables.yaml").read_text())
    tables["escalation"][3] = [{"after": "1s", "notify": "project_manager"},
                               {"after": "2s", "notify": "maintenance_engineer"}]
    (config / "tables.yaml").write_text(yaml.safe_dump(tables))
    return config


async def fire_all(settings, ids: list[str]) -> dict:
    import redis as sync_redis

    from alertgate.dedup import layout
    from alertgate.keys import ticket_key
    from alertgate.observability.logging import configure_logging
    from alertgate.runtime.connections import connect_state
    from alertgate.workers.context import set_context
    from alertgate.workers.jobs import intent_consumer

    configure_logging(settings.log_level)   # (as the worker: JSON lines; warnings and worse here)
    ctx = set_context(settings)
    state = connect_state(settings, fail_fast=False)
    await layout.ensure(state)
    consumer = intent_consumer(ctx, state, sync_redis.Redis.from_url(settings.queue_url))
    await consumer.drain()   # (the dispatches: untimed)
    await asyncio.sleep(2.5)  # (both escalations due)
    wall, cpu = time.perf_counter(), time.process_time()
    fired = await consumer.drain()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    pipe = state.pipeline(transaction=False)
    for ticket_id in ids:
        pipe.hget(ticket_key(ticket_id), "escalation_level")
    levels = [int(v or 0) for v in await pipe.execute()]
    escalations = 0
    for ticket_id in ids:
        timeline = [json.loads(e) for e in await state.lrange(ticket_key(ticket_id) + ":tl", 0, -1)]
        escalations += sum(e["action"] == "escalate" for e in timeline)
    await state.aclose()
    return {"masters": len(ids), "intents_fired": fired, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "tickets_fired_per_cpu_s": round(fired / cpu, 1) if cpu else None,
            "every_master_at_level_2": all(level == 2 for level in levels), "escalations": escalations}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--masters", type=int, default=2000)
    args = parser.parse_args()
    from alertgate.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = EmbeddedRedis(work / "redis", port=free_port())
        url = server.start()
        try:
            env = settings_env(url, work)
            env["ALERTGATE_CONFIG_DIR"] = str(escalating_config(work))
            env["ALERTGATE_LOG_LEVEL"] = "warning"
            ids = asyncio.run(seed(url, args.masters, env, intents=True))
            result = asyncio.run(fire_all(load_settings(env), ids))
        finally:
            server.stop()
    print(json.dumps(result))
    return 0 if result["every_master_at_level_2"] and result["escalations"] == 2 * args.masters else 1


if __name__ == "__main__":
    raise SystemExit(main())
