"""The commands as a new user met them (issue #19): a second `make run` in the same checkout, a
report under `make run`, an installed alertgate without a checkout, a first credential."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from alertgate.settings import Settings, hash_secret, load_settings
from tests.conftest import ROOT, SOURCE_SECRET, VIEWER_SECRET, start_alertgate, stop_process, wait_for_http
from tests.integration.helpers import am_alert, am_body

pytestmark = pytest.mark.integration
SOURCE = {"Authorization": f"Bearer {SOURCE_SECRET}"}
VIEWER = {"Authorization": f"Bearer {VIEWER_SECRET}"}


def alertgate(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alertgate", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def test_a_second_run_is_refused_and_the_first_keeps_working(gateway_env, tmp_path):
    env = {k: v for k, v in gateway_env.items() if k != "ALERTGATE_REDIS_URL"}
    base = f"http://127.0.0.1:{env['ALERTGATE_PORT']}"
    first = start_alertgate(["run"], env, tmp_path, tmp_path / "run.log")
    try:
        wait_for_http(base + "/healthz", process=first, timeout=30)
        second = alertgate("run", env=env, cwd=tmp_path, timeout=30)
        assert second.returncode == 2
        assert f"pid {first.pid}" in second.stderr and "data directory" in second.stderr
        socket_file = Path(env["ALERTGATE_DATA_DIR"]) / "redis" / "redis.sock"
        assert socket_file.exists(), "the second run must not touch the first's Redis"

        answer = httpx.post(base + "/api/v1/alerts/alertmanager", json=am_body(am_alert("StillUp")), headers=SOURCE)
        assert answer.json()["results"][0]["outcome"] == "new"

        # the CLI finds the running embedded Redis without ALERTGATE_REDIS_URL
        report = alertgate("report", "--from", "2026-11-01", "--to", "2026-12-01", env=env, cwd=tmp_path)
        assert report.returncode == 0, report.stderr
        assert '"incidents"' in report.stdout

        deadline = time.monotonic() + 30
        while True:
            ready = httpx.get(base + "/readyz", headers=VIEWER).json()
            if ready["checks"].get("workers", "").endswith("alive") and not ready["checks"]["workers"].startswith("none"):
                break
            assert time.monotonic() < deadline, ready
            time.sleep(0.5)
        assert ready["status"] == "ready" and ready["checks"]["queue"] == "ok"
    finally:
        first.send_signal(signal.SIGINT)
        assert stop_process(first, sig=signal.SIGINT) == 0
    after = alertgate("report", "--from", "2026-11-01", "--to", "2026-12-01", env=env, cwd=tmp_path)
    assert after.returncode == 2 and "no `alertgate run` is running" in after.stderr


def test_a_run_whose_port_is_taken_starts_nothing(gateway_env, tmp_path):
    env = {k: v for k, v in gateway_env.items() if k != "ALERTGATE_REDIS_URL"}
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env["ALERTGATE_PORT"])))
        taken.listen()
        refused = alertgate("run", env=env, cwd=tmp_path, timeout=30)
    assert refused.returncode == 2 and "already in use" in refused.stderr
    assert not (Path(env["ALERTGATE_DATA_DIR"]) / "redis").exists()


@pytest.mark.parametrize("args, says", [
    (["report", "--from", "junk", "--to", "2026-12-01"], "is not a date"),
    (["report", "--from", "2026-12-01", "--to", "2026-11-01"], "after"),
    (["rules", "test", "/nonexistent/payload.json"], "No such file"),
])
def test_a_cli_mistake_is_one_line_not_a_traceback(gateway_env, tmp_path, args, says):
    done = alertgate(*args, env=gateway_env, cwd=tmp_path)
    assert done.returncode == 2 and says in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ALERTGATE_", "PROMETHEUS_"))}


def test_an_installed_alertgate_finds_its_shipped_config_without_a_checkout(tmp_path):
    checked = alertgate("rules", "check", env=clean_env(), cwd=tmp_path)
    assert checked.returncode == 0 and "ok:" in checked.stdout
    assert "defaults" in checked.stdout  # the package's own copy, since ./config does not exist here


def test_init_writes_the_shipped_files_and_keeps_edited_ones(tmp_path):
    target = tmp_path / "config"
    target.mkdir()
    (target / "alertgate.yaml").write_text("port: 9090\n")
    done = alertgate("init", str(target), env=clean_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (target / "alertgate.yaml").read_text() == "port: 9090\n"
    for shipped in ("rules/30-route.yaml", "tables.yaml", "zabbix/media_alertgate.yaml",
                    "alertmanager/alertmanager.yml", "prometheus/alertgate-rules.yml"):
        assert (target / shipped).read_bytes() == (ROOT / "config" / shipped).read_bytes()
    assert alertgate("rules", "check", env=clean_env(), cwd=tmp_path).returncode == 0  # finds ./config


def test_rules_check_of_one_file_checks_it_with_the_rules_it_will_join(tmp_path):
    """Before, a file gave "rule directory does not exist". Errors name the file as it is."""
    env = {**clean_env(), "ALERTGATE_CONFIG_DIR": str(ROOT / "config")}
    new = tmp_path / "45-patch-night.yaml"
    new.write_text("suppress:\n  - name: patch-night\n    when: {field: ci, equals: db9}\n"
                   "    during: [{start: '2026-12-07T13:00:00', end: '2026-12-07T14:00:00'}]\n")
    good = alertgate("rules", "check", str(new), env=env, cwd=tmp_path)
    assert good.returncode == 0 and "ok:" in good.stdout and str(new) in good.stdout, good.stdout + good.stderr
    clash = tmp_path / "clash.yaml"   # a name the shipped rules already use in that stage
    shipped = yaml.safe_load((ROOT / "config" / "rules" / "30-route.yaml").read_text())["route"][0]["name"]
    clash.write_text(f"route:\n  - name: {shipped}\n    when: {{field: ci, equals: db9}}\n    set: {{assignment_group: dba}}\n")
    bad = alertgate("rules", "check", str(clash), env=env, cwd=tmp_path)
    assert bad.returncode == 1 and f"{clash}:2" in bad.stderr and str(ROOT / "config" / "rules") in bad.stderr, bad.stderr
    named = [line.split(":")[0] for line in bad.stderr.splitlines() if line.startswith("/")]
    assert named and all(path == str(clash) or path.startswith(str(ROOT / "config" / "rules")) for path in named), named
    assert all(str(ROOT / "config" / "rules") in line for line in bad.stderr.splitlines() if " exists at " in line)


def test_token_write_adds_a_valid_entry_under_the_shipped_empty_list(tmp_path):
    config = tmp_path / "config"
    alertgate("init", str(config), env=clean_env(), cwd=tmp_path)
    assert "tokens: []" in (config / "alertgate.yaml").read_text()
    env = clean_env() | {"ALERTGATE_CONFIG_DIR": str(config)}
    for name in ("zabbix", "alertmanager"):
        done = alertgate("token", "--role", "source", "--name", name, "--write", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    secret = done.stdout.split("not stored): ")[1].split()[0]
    tokens = load_settings({"ALERTGATE_CONFIG_DIR": str(config)}).tokens
    assert [t.name for t in tokens] == ["zabbix", "alertmanager"]
    assert tokens[1].secret_sha256 == hash_secret(secret)
    assert yaml.safe_load((config / "alertgate.yaml").read_text())["port"] == 8080  # the rest untouched
    again = alertgate("token", "--role", "source", "--name", "zabbix", "--write", env=env, cwd=tmp_path)
    assert again.returncode == 2 and "already" in again.stderr


def test_serve_warns_when_no_credential_can_ingest(capsys):
    from alertgate.cli import _warn_without_ingest_credential

    _warn_without_ingest_credential(Settings(bootstrap_tokens="viewer:x"))
    assert "no credential can ingest" in capsys.readouterr().err
    _warn_without_ingest_credential(Settings(bootstrap_tokens="source:x"))
    assert capsys.readouterr().err == ""
