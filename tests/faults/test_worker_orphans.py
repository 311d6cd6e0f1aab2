"""A worker SIGKILLed (the OOM killer, kill -9 on its pid alone) takes what it started with it:
RQ's scheduler process, forked by RQ, used to run on for good beside the next worker's (its lock
renewed, so the next worker's scheduler could not take over); the companions (sweeper,
dispatcher) watched for it already."""

from __future__ import annotations

import signal
import time

import psutil
import pytest

from tests.conftest import start_alertgate, stop_process

pytestmark = pytest.mark.integration


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:   # (ended meanwhile, or a zombie not yet reaped)
        return []


def test_a_worker_killed_leaves_no_process_behind(gateway_env, tmp_path):
    started: list[psutil.Process] = []
    worker = start_alertgate(["worker"], gateway_env, tmp_path, tmp_path / "worker.log")
    try:
        main = psutil.Process(worker.pid)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:   # (RQ's scheduler: a fork, the worker's own command line)
            started = main.children(recursive=True)
            if len(started) >= 3 and any(_cmdline(c) == main.cmdline() for c in started):
                break
            time.sleep(0.2)
        assert any(_cmdline(c) == main.cmdline() for c in started), [_cmdline(c) for c in started]
        worker.send_signal(signal.SIGKILL)   # (the worker alone, not its process group)
        worker.wait(10)
        ours = [c for c in started if "resource_tracker" not in " ".join(_cmdline(c))]   # (it ends after them)
        gone, alive = psutil.wait_procs(ours, timeout=20)
        assert alive == [], [(p.pid, _cmdline(p)) for p in alive]
    finally:
        stop_process(worker)
        for child in started:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
