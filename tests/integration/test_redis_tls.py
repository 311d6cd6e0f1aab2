"""The state store over TLS with a password (``rediss://:<password>@host:port/0?ssl_ca_certs=...``),
a real redis-server with a certificate made here: alerts land; a wrong password or an unknown
certificate authority is a 503 that names neither the password nor the URL."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from alertgate.runtime.embedded_redis import find_redis_server, free_port
from tests.conftest import VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, client_for

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificates")]
PASSWORD = "redis-pass-7f3a9c"


def make_certificates(folder: Path) -> None:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "1", "-subj", "/CN=alertgate test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "1", "-extfile", "san.ext")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.crt",
            "-days", "1", "-subj", "/CN=another CA")


@pytest.fixture
def tls_redis(tmp_path):
    make_certificates(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [find_redis_server(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "server.crt", "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.crt",
         "--tls-auth-clients", "no", "--requirepass", PASSWORD, "--save", "", "--dir", str(tmp_path)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'ca.crt'}"
    deadline = time.monotonic() + 15
    while True:
        try:
            redis.Redis.from_url(url, socket_timeout=1).ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.skip("this redis-server was built without TLS")
            time.sleep(0.1)
    yield port, tmp_path
    process.kill()
    process.wait(10)


def test_alerts_land_over_tls_with_a_password(tls_redis):
    port, folder = tls_redis
    url = f"rediss://:{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={folder / 'ca.crt'}"
    with client_for(url) as client:
        results = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("OverTls")), headers=SOURCE)
        assert results.json()["results"][0]["outcome"] == "new"
        assert client.get("/readyz", headers={"Authorization": f"Bearer {VIEWER_SECRET}"}).status_code == 200


@pytest.mark.parametrize("case", ["wrong password", "unknown CA"])
def test_a_refused_connection_is_a_503_without_the_secret(tls_redis, case, capsys):
    port, folder = tls_redis
    password, ca = ("not-" + PASSWORD, "ca.crt") if case == "wrong password" else (PASSWORD, "other.crt")
    url = f"rediss://:{password}@127.0.0.1:{port}/0?ssl_ca_certs={folder / ca}"
    with client_for(url) as client:
        response = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert("OverTls")), headers=SOURCE)
        assert response.status_code == 503 and response.headers["retry-after"]
    seen = response.text + "".join(capsys.readouterr())
    assert "redis_unavailable" in seen
    assert password not in seen and str(port) not in response.text
