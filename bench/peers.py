"""Peers for `make bench-peers`, fed the same storm on the same machine in the same run:

- Prometheus Alertmanager (Debian `prometheus-alertmanager`): `POST /api/v2/alerts`, a JSON array
  of alerts, 1 or 50 per request; it deduplicates by label set in memory.
- Alerta (PyPI `alerta-server`, in its own venv under bench/.peers) on the local PostgreSQL,
  under gunicorn with the gateway's worker count: `POST /webhooks/prometheus`, the same
  Alertmanager webhook bodies the gateway gets; it deduplicates by resource and event in PostgreSQL.

A peer whose parts are missing is left out with the reason, never faked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent / ".peers"
ALERTA_PACKAGES = ["alerta-server==9.1.0", "gunicorn", "psycopg2-binary"]
ALERTA_DB = "alertgate_bench_alerta"


def alertmanager_bodies(path: Path, alerts: list[dict], per_request: int) -> int:
    """The storm as Alertmanager API v2 postable alerts."""
    lines = [json.dumps([{"labels": a["labels"], "annotations": a["annotations"], "startsAt": a["startsAt"]}
                         for a in alerts[i:i + per_request]], separators=(",", ":"))
             for i in range(0, len(alerts), per_request)]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def start_alertmanager(work: Path, port: int, start, wait_http) -> tuple[subprocess.Popen | None, str]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        return None, "no prometheus-alertmanager binary (apt-get install prometheus-alertmanager)"
    config = work / "alertmanager.yml"
    config.write_text("route: {receiver: none, group_wait: 1h}\nreceivers: [{name: none}]\n")
    process = start([binary, f"--config.file={config}", f"--storage.path={work / 'am-data'}",
                     f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                    {}, work / "alertmanager.log")
    wait_http(f"http://127.0.0.1:{port}/-/ready")
    return process, f"http://127.0.0.1:{port}/api/v2/alerts"


def _alerta_python() -> Path | str:
    python = PEERS_DIR / "venv" / "bin" / "python"
    if python.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(PEERS_DIR / "venv")], check=True)
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *ALERTA_PACKAGES],
                               capture_output=True)
    if installed.returncode != 0:
        shutil.rmtree(PEERS_DIR / "venv", ignore_errors=True)
        return "pip could not install " + " ".join(ALERTA_PACKAGES)
    return python


def start_alerta(work: Path, port: int, workers: int, start, wait_http) -> tuple[subprocess.Popen | None, str]:
    if shutil.which("psql") is None:
        return None, "no PostgreSQL client (psql) on this machine"
    python = _alerta_python()
    if isinstance(python, str):
        return None, python
    for statement in (f"DROP DATABASE IF EXISTS {ALERTA_DB}", f"CREATE DATABASE {ALERTA_DB}"):
        done = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", statement],
                              capture_output=True, text=True)
        if done.returncode != 0:
            return None, f"PostgreSQL on 127.0.0.1:5432 refused: {done.stderr.strip()[:200]}"
    env = {"DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{ALERTA_DB}", "AUTH_REQUIRED": "False",
           "PATH": "/usr/bin:/bin"}
    # Alerta creates its schema when the app starts: once here, or the workers race to create it.
    init = subprocess.run([str(python), "-c", "from alerta import create_app; create_app()"], env=env,
                          capture_output=True, text=True)
    if init.returncode != 0:
        return None, f"Alerta could not create its schema: {init.stderr.strip()[-200:]}"
    gunicorn = python.parent / "gunicorn"
    process = start([str(gunicorn), "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
                     "--log-level", "warning", "alerta.app:create_app()"], env, work / "alerta.log")
    wait_http(f"http://127.0.0.1:{port}/management/healthcheck", timeout=60)
    return process, f"http://127.0.0.1:{port}/webhooks/prometheus"
