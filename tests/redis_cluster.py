"""A real Redis Cluster on loopback ports for the tests: masters with one replica each, made by
``redis-cli --cluster create``, AOF on as everywhere else; nodes can be SIGKILLed and restarted."""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

from alertgate.runtime.embedded_redis import find_redis_server


def find_redis_cli() -> str | None:
    server = Path(find_redis_server())
    beside = server.with_name("redis-cli")
    return shutil.which("redis-cli") or (str(beside) if beside.exists() else None)


def cluster_port() -> int:
    """A free port P with P + 10000 free too (the cluster bus), and P below 55536."""
    while True:
        port = random.randrange(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


class LocalCluster:
    def __init__(self, root: Path, masters: int = 3, node_timeout_ms: int = 1000) -> None:
        self.root = root
        self.ports = [cluster_port() for _ in range(masters * 2)]
        self.node_timeout_ms = node_timeout_ms
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}"

    def start_node(self, port: int) -> None:
        data = self.root / str(port)
        data.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(self.node_timeout_ms), "--appendonly", "yes",
             "--appendfsync", "everysec", "--save", "", "--repl-diskless-sync-delay", "0", "--logfile", str(data / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def start(self, attempts: int = 2) -> str:
        """Create the cluster; one that does not form (seen once in CI, in a full suite's run) is
        stopped and created again on fresh ports, its nodes' state and log tails kept in the error."""
        cli = find_redis_cli()
        if cli is None:
            raise RuntimeError("redis-cli not found")
        for attempt in range(1, attempts + 1):
            for port in self.ports:
                self.start_node(port)
            subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                            "--cluster-replicas", "1", "--cluster-yes"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            try:
                self.wait_healthy(timeout=45.0)
                return self.url
            except TimeoutError as error:
                self.stop()
                if attempt == attempts:
                    raise
                print(f"cluster attempt {attempt} did not form, trying fresh ports: {error}")
                self.root = self.root.with_name(f"{self.root.name}-{attempt + 1}")
                self.ports = [cluster_port() for _ in self.ports]
        raise AssertionError("unreachable")

    def nodes(self, via: int | None = None) -> list[dict]:
        """CLUSTER NODES as seen by one live node: port, role, flags."""
        for port in ([via] if via else []) + [p for p in self.ports if p in self.processes]:
            try:
                table = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).cluster("nodes")
            except redis.ConnectionError:
                continue
            return [{"port": int(address.split("@")[0].rsplit(":", 1)[1]), "flags": node["flags"],
                     "master": "master" in node["flags"] and "fail" not in node["flags"]}
                    for address, node in table.items()]
        raise RuntimeError("no cluster node answers")

    def masters(self) -> list[int]:
        return sorted(n["port"] for n in self.nodes() if n["master"])

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Every live node says cluster_state:ok, and every master has a replica in sync."""
        deadline = time.monotonic() + timeout
        seen: object = None
        while time.monotonic() < deadline:
            try:
                states = [redis.Redis(host="127.0.0.1", port=p, socket_timeout=1).cluster("info")["cluster_state"]
                          for p in self.processes]
                synced = {n["port"]: self._replica_online(n["port"]) for n in self.nodes() if n["master"]}
                if set(states) == {"ok"} and len(synced) == len(self.ports) // 2 and all(synced.values()):
                    return
                seen = {"states": dict(zip(self.processes, states)), "masters_with_replica_online": synced}
            except (redis.RedisError, RuntimeError) as error:
                seen = repr(error)
            time.sleep(0.2)
        raise TimeoutError(f"the cluster did not become healthy; last seen {seen}; {self._log_tails()}")

    def _log_tails(self, lines: int = 4) -> str:
        tails = []
        for port in self.ports:
            log = self.root / str(port) / "redis.log"
            text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else ["(no log)"]
            tails.append(f"{port}: " + " | ".join(text))
        return "logs: " + " ;; ".join(tails)

    @staticmethod
    def _replica_online(port: int) -> bool:
        info = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).info("replication")
        return info.get("connected_slaves", 0) >= 1 and info.get("slave0", {}).get("state") == "online"

    def kill(self, port: int) -> None:
        process = self.processes.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def wait_promoted(self, killed: int, timeout: float = 30.0) -> int:
        """The replica that took over from ``killed``."""
        deadline = time.monotonic() + timeout
        before = set(self.masters()) if killed not in self.processes else set()
        while time.monotonic() < deadline:
            try:
                masters = [n["port"] for n in self.nodes() if n["master"] and n["port"] != killed]
                states = {redis.Redis(host="127.0.0.1", port=p, socket_timeout=1).cluster("info")["cluster_state"]
                          for p in self.processes}
            except redis.RedisError:
                masters, states = [], set()
            promoted = set(masters) - before
            if len(masters) == len(self.ports) // 2 and states == {"ok"} and promoted:
                return promoted.pop()
            time.sleep(0.1)
        raise TimeoutError("no replica was promoted")

    def stop(self) -> None:
        for port in list(self.processes):
            self.kill(port)
