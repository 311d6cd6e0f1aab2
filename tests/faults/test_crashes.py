"""Crashes in the middle of a storm, with senders that retry as Alertmanager does (on 5xx and on
connection errors): Redis SIGKILLed and restarted from its AOF, a gateway SIGKILLed and restarted.
At the end every sent occurrence is in exactly one ticket: nothing lost, nothing doubled."""

from __future__ import annotations

import signal
import time

import pytest
import redis

from tests.conftest import start_alertgate, stop_process, wait_for_http
from tests.faults.storm import assert_exactly_once, storm

pytestmark = pytest.mark.integration


def test_redis_killed_mid_storm_and_restarted_from_its_aof(own_redis_gateway):
    base, server = own_redis_gateway

    def crash() -> None:
        time.sleep(0.4)
        server.kill()          # SIGKILL, as a crash would
        time.sleep(1.5)
        server.start()         # same port, same data directory: the AOF is replayed

    storm(base, batch=1, crash=crash)
    assert_exactly_once(base, redis.Redis.from_url(server.url))


def test_gateway_killed_mid_storm_and_restarted(gateway_env, redis_url, tmp_path):
    base = f"http://127.0.0.1:{gateway_env['ALERTGATE_PORT']}"
    processes = [start_alertgate(["serve"], gateway_env, tmp_path, tmp_path / "serve1.log")]
    try:
        wait_for_http(base + "/healthz", process=processes[0])

        def crash() -> None:
            time.sleep(0.4)
            stop_process(processes[0], signal.SIGKILL)
            time.sleep(0.5)
            processes.append(start_alertgate(["serve"], gateway_env, tmp_path, tmp_path / "serve2.log"))

        storm(base, batch=5, crash=crash)
        assert_exactly_once(base, redis.Redis.from_url(redis_url))
        assert_dispatched_once(gateway_env, redis_url)
    finally:
        for process in processes:
            stop_process(process)


def assert_dispatched_once(env: dict[str, str], redis_url: str) -> None:
    """A worker then dispatches every master once, from its intent: each assigned once, the
    streams left empty (issue #27)."""
    import json

    from alertgate.keys import intents_keys, masters_keys, ticket_key
    from alertgate.settings import load_settings
    from alertgate.workers.worker import work_burst

    state = redis.Redis.from_url(redis_url)
    settings = load_settings({k: v for k, v in env.items() if k.startswith("ALERTGATE_")})
    masters = [m.decode() for key in masters_keys() for m in state.zrange(key, 0, -1)]
    assert work_burst(settings, state) == len(masters)
    for master in masters:
        assert state.hget(ticket_key(master), "status") == b"assigned"
        actions = [json.loads(e)["action"] for e in state.lrange(ticket_key(master) + ":tl", 0, -1)]
        assert actions.count("assign") == 1, master
    assert sum(state.xlen(stream) for stream in intents_keys()) == 0
