"""A real Zabbix 6.0 server for the end-to-end tests: PostgreSQL database, `zabbix_server`, the
PHP API under `php -S`, and `zabbix_sender`, all on 127.0.0.1 (Debian's packages).

The schema import takes ~20 s, so it is done once into a template database
(`alertgate_zbx_template`); every test session copies it into a fresh database, which it drops
again at the end. Debian's frontend reads only `/etc/zabbix/zabbix.conf.php`: the server writes a
stub there that it marks as its own, and refuses to replace a file it did not write.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from alertgate.runtime.embedded_redis import free_port

TEMPLATE_DB = "alertgate_zbx_template"
SCHEMA_DIR = Path("/usr/share/zabbix-server-pgsql")
FRONTEND_DIR = Path("/usr/share/zabbix")
FRONTEND_CONF = Path("/etc/zabbix/zabbix.conf.php")
STUB_MARK = "alertgate e2e stub"


def missing_parts() -> str | None:
    """Why a real Zabbix cannot run here, or None when every part is installed."""
    wanted = {
        "zabbix_server (apt-get install zabbix-server-pgsql)": shutil.which("zabbix_server"),
        "the PHP API (apt-get install zabbix-frontend-php php8.2-pgsql php8.2-cli)":
            (FRONTEND_DIR / "api_jsonrpc.php").exists() and shutil.which("php"),
        "zabbix_sender (apt-get install zabbix-agent)": shutil.which("zabbix_sender"),
        "PostgreSQL (apt-get install postgresql)": shutil.which("pg_lsclusters"),
        "root (the frontend reads only /etc/zabbix/zabbix.conf.php)": os.geteuid() == 0,
    }
    absent = [name for name, found in wanted.items() if not found]
    if not absent and "pgsql" not in subprocess.run(["php", "-m"], capture_output=True, text=True).stdout:
        absent.append("PHP's PostgreSQL module (apt-get install php8.2-pgsql)")
    if not absent and FRONTEND_CONF.exists() and STUB_MARK not in FRONTEND_CONF.read_text():
        absent.append(f"a free {FRONTEND_CONF} (one not written by these tests is there)")
    return ", ".join(absent) or None


class ApiError(Exception):
    pass


class ZabbixApi:
    """JSON-RPC client of Zabbix 6.0 (the session token goes in the body's `auth` until 6.4)."""

    def __init__(self, url: str) -> None:
        self.url, self.auth, self._id = url, None, 0

    def call(self, method: str, params: dict | list) -> object:
        self._id += 1
        body = {"jsonrpc": "2.0", "method": method, "params": params, "id": self._id}
        if self.auth and method not in ("user.login", "apiinfo.version"):
            body["auth"] = self.auth
        reply = httpx.post(self.url, json=body, headers={"Content-Type": "application/json-rpc"}, timeout=120).json()
        if "error" in reply:
            raise ApiError(f"{method}: {reply['error'].get('message')} {reply['error'].get('data')}")
        return reply["result"]

    def login(self, user: str, password: str) -> "ZabbixApi":
        self.auth = self.call("user.login", {"username": user, "password": password})
        return self


@dataclass
class ZabbixServer:
    work: Path
    database: str = field(default_factory=lambda: f"alertgate_zbx_{secrets.token_hex(4)}")
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    server_port: int = field(default_factory=lambda: _free_port_below(32767))  # ListenPort's limit
    api_port: int = field(default_factory=free_port)
    php_memory_limit: str = "512M"   # (Zabbix documents 128M as its frontend's least)
    _processes: list[subprocess.Popen] = field(default_factory=list)
    _pg_port: int = 5432

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api_jsonrpc.php"

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self._prepare_database()
        self._write_configs()
        self._spawn("zabbix_server", ["zabbix_server", "-f", "-c", str(self.work / "zabbix_server.conf")])
        self._spawn("frontend", ["php", "-S", f"127.0.0.1:{self.api_port}", "-t", str(FRONTEND_DIR),
                                 "-d", f"memory_limit={self.php_memory_limit}", "-d", "max_execution_time=300",
                                 "-d", "post_max_size=16M", "-d", "date.timezone=UTC"])
        self._wait_listening()

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.terminate()
        for process in self._processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        if FRONTEND_CONF.exists() and STUB_MARK in FRONTEND_CONF.read_text():
            FRONTEND_CONF.unlink()
        self._psql_admin(f'DROP DATABASE IF EXISTS "{self.database}"', check=False)
        self._psql_admin(f'DROP ROLE IF EXISTS "{self.database}"', check=False)

    def stop_server(self) -> None:
        """The server process only (the API and the database stay): the monitoring goes silent."""
        server = self._processes[0]
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()

    def send(self, host: str, key: str, value: str, timeout: float = 60) -> None:
        """One value through `zabbix_sender`, retried until the server's cache knows the item."""
        command = ["zabbix_sender", "-z", "127.0.0.1", "-p", str(self.server_port), "-s", host, "-k", key, "-o", value]
        deadline = time.monotonic() + timeout
        while True:
            out = subprocess.run(command, capture_output=True, text=True)
            if "processed: 1" in out.stdout:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"zabbix_sender was never accepted: {out.stdout} {out.stderr}")
            time.sleep(1)

    def reload_cache(self) -> None:
        subprocess.run(["zabbix_server", "-c", str(self.work / "zabbix_server.conf"), "-R", "config_cache_reload"],
                       capture_output=True, check=False)

    def log_tail(self, lines: int = 40) -> str:
        tails = []
        for name in ("zabbix_server.out", "zabbix_server.log"):
            path = self.work / name
            if path.exists():
                tails += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(tails)

    # -- set-up ---------------------------------------------------------------------------------------
    def _prepare_database(self) -> None:
        self._pg_port = _online_postgres_port()
        if self._psql_admin(f"SELECT 1 FROM pg_database WHERE datname = '{TEMPLATE_DB}'").strip() != "1":
            self._import_template()
        self._psql_admin(f"CREATE ROLE \"{self.database}\" LOGIN PASSWORD '{self.password}'")
        self._psql_admin(f'CREATE DATABASE "{self.database}" OWNER "{self.database}" TEMPLATE "{TEMPLATE_DB}"')
        # the tables belong to the template's owner: hand them to this session's role
        self._psql_admin(f'REASSIGN OWNED BY "{TEMPLATE_DB}" TO "{self.database}"', database=self.database)
        # A copy starts without planner statistics, and autovacuum waits for changes before it
        # analyzes: a reader's problem.get then took 32 ms per problem (a nested loop over every
        # item per event) where an installed Zabbix, analyzed, takes well under 1 ms.
        self._psql_admin("ANALYZE", database=self.database)

    def _import_template(self) -> None:
        building = f"{TEMPLATE_DB}_building"
        self._psql_admin(f'DROP DATABASE IF EXISTS "{building}"')
        self._psql_admin(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{TEMPLATE_DB}') "
                         f"THEN CREATE ROLE \"{TEMPLATE_DB}\"; END IF; END $$")
        self._psql_admin(f'CREATE DATABASE "{building}" OWNER "{TEMPLATE_DB}" ENCODING UTF8 TEMPLATE template0 '
                         "LC_COLLATE 'C' LC_CTYPE 'C'")
        sql = b"".join(subprocess.run(["zcat", str(SCHEMA_DIR / name)], capture_output=True, check=True).stdout
                       for name in ("schema.sql.gz", "images.sql.gz", "data.sql.gz"))
        subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-p", str(self._pg_port), "-X", "-q",
                        "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", building,
                        "-c", f'SET ROLE "{TEMPLATE_DB}"', "-f", "-"], input=sql, capture_output=True, check=True)
        self._psql_admin(f'ALTER DATABASE "{building}" RENAME TO "{TEMPLATE_DB}"')

    def _psql_admin(self, sql: str, database: str = "postgres", check: bool = True) -> str:
        out = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-p", str(self._pg_port), "-X", "-q", "-tA",
                              "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql], capture_output=True, text=True)
        if check and out.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {out.stderr.strip()}")
        return out.stdout

    def _write_configs(self) -> None:
        for sub in ("run", "tmp"):
            (self.work / sub).mkdir(exist_ok=True)
        (self.work / "zabbix_server.conf").write_text("\n".join([
            "ListenIP=127.0.0.1", f"ListenPort={self.server_port}", "LogType=file",
            f"LogFile={self.work / 'zabbix_server.log'}", "LogFileSize=0", "DebugLevel=3",
            f"PidFile={self.work / 'zabbix_server.pid'}", f"SocketDir={self.work / 'run'}",
            f"TmpDir={self.work / 'tmp'}", "DBHost=127.0.0.1", f"DBPort={self._pg_port}",
            f"DBName={self.database}", f"DBUser={self.database}", f"DBPassword={self.password}",
            "AllowRoot=1", "StartPollers=1", "StartPollersUnreachable=1", "StartPingers=0", "StartTrappers=2",
            "StartDiscoverers=0", "StartHTTPPollers=0", "StartAlerters=1", "StartEscalators=1",
            "StartTimers=1", "StartDBSyncers=1", "StartPreprocessors=1", "CacheUpdateFrequency=5",
            "HousekeepingFrequency=0", "Timeout=4", f"AlertScriptsPath={self.work / 'tmp'}",
            f"ExternalScripts={self.work / 'tmp'}", ""]))
        config = {"TYPE": "POSTGRESQL", "SERVER": "127.0.0.1", "PORT": str(self._pg_port), "DATABASE": self.database,
                  "USER": self.database, "PASSWORD": self.password, "SCHEMA": ""}
        (self.work / "zabbix.conf.php").write_text(
            "<?php\n" + "".join(f"$DB[{json.dumps(k)}] = {json.dumps(v)};\n" for k, v in config.items())
            + "$DB['DOUBLE_IEEE754'] = true;\n$DB['ENCRYPTION'] = false;\n"
            + f"$ZBX_SERVER = '127.0.0.1';\n$ZBX_SERVER_PORT = '{self.server_port}';\n"
            + "$ZBX_SERVER_NAME = 'alertgate-e2e';\n$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;\n")
        FRONTEND_CONF.parent.mkdir(parents=True, exist_ok=True)
        FRONTEND_CONF.write_text(f"<?php\n// {STUB_MARK}: written by the alertgate tests, removed after them\n"
                                 f"include '{self.work / 'zabbix.conf.php'}';\n")

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.work / f"{name}.out").open("wb")
        self._processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True))

    def _wait_listening(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(process.poll() is not None for process in self._processes):
                break
            try:
                version = ZabbixApi(self.api_url).call("apiinfo.version", {})
                if version and _port_open(self.server_port):
                    return
            except (httpx.HTTPError, ValueError, ApiError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Zabbix did not come up within {timeout}s:\n{self.log_tail()}")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_port_below(limit: int) -> int:
    for port in random.sample(range(20000, limit), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError(f"no free port below {limit}")


def _online_postgres_port() -> int:
    """The port of an online PostgreSQL cluster; starts the first cluster if none is online."""
    rows = [line.split() for line in subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True,
                                                    check=True).stdout.splitlines() if line.strip()]
    if not rows:
        raise RuntimeError("no PostgreSQL cluster exists (pg_createcluster 15 main)")
    for version, cluster, port, status, *_ in rows:
        if status == "online":
            return int(port)
    version, cluster, port, *_ = rows[0]
    subprocess.run(["pg_ctlcluster", version, cluster, "start"], check=True)
    return int(port)
