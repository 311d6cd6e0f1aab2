"""Intake through HTTP on a real Redis: outcomes, every error case, auth and retries."""

from __future__ import annotations

import pytest

from alertgate.gateway.openapi import openapi_document
from tests.conftest import ADMIN_SECRET, SOURCE_SECRET, VIEWER_SECRET
from tests.integration.helpers import SOURCE, am_alert, am_body, basic, client_for, zabbix_event

pytestmark = pytest.mark.integration


def outcomes(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["outcome"] for r in response.json()["results"]]


def test_alertmanager_new_then_repeat_in_order(redis_url):
    with client_for(redis_url) as client:
        body = am_body(am_alert("A"), am_alert("B"))
        first = client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE)
        assert outcomes(first) == ["new", "new"]
        result = first.json()["results"][0]
        assert set(result) == {"occurrence_id", "outcome", "ticket_id", "master_id"}
        for _ in range(4):  # Alertmanager redelivers after a timeout or 5xx
            again = client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE)
            assert outcomes(again) == ["repeat", "repeat"]


def test_recovery_of_seen_occurrence_resolves_and_unknown_is_ignored(redis_url):
    with client_for(redis_url) as client:
        url = "/api/v1/alerts/alertmanager"
        client.post(url, json=am_body(am_alert("A")), headers=SOURCE)
        mixed = am_body(am_alert("A", status="resolved"), am_alert("Never", status="resolved"), am_alert("C"))
        assert outcomes(client.post(url, json=mixed, headers=SOURCE)) == ["resolved", "ignored", "new"]
        assert outcomes(client.post(url, json=mixed, headers=SOURCE)) == ["repeat", "ignored", "repeat"]


def test_zabbix_problem_update_recovery(redis_url):
    with client_for(redis_url) as client:
        url = "/api/v1/alerts/zabbix"
        assert outcomes(client.post(url, json=zabbix_event(), headers=SOURCE)) == ["new"]
        assert outcomes(client.post(url, json=zabbix_event(), headers=SOURCE)) == ["repeat"]
        ack = zabbix_event(update="1", event_update_action="acknowledged", event_update_message="on it")
        assert outcomes(client.post(url, json=ack, headers=SOURCE)) == ["updated"]
        assert outcomes(client.post(url, json=ack, headers=SOURCE)) == ["repeat"]
        assert outcomes(client.post(url, json=zabbix_event(value="0"), headers=SOURCE)) == ["resolved"]
        assert outcomes(client.post(url, json=zabbix_event(value="0"), headers=SOURCE)) == ["repeat"]
        unseen = zabbix_event(event_id="424242", value="0")
        assert outcomes(client.post(url, json=unseen, headers=SOURCE)) == ["ignored"]


def test_findings_single_and_array(redis_url):
    with client_for(redis_url) as client:
        url = "/api/v1/findings"
        one = {"finding_id": "F-1", "ci": "UPS-2", "title": "Battery swollen"}
        assert outcomes(client.post(url, json=one, headers=SOURCE)) == ["new"]
        many = [one, {"ci": "CRAC-1", "title": "Filter dirty", "observed_at": "2026-11-22T02:00:00Z"}]
        assert outcomes(client.post(url, json=many, headers=SOURCE)) == ["repeat", "new"]


def test_unicode_round_trips(redis_url):
    with client_for(redis_url) as client:
        body = am_body(am_alert("磁盘空间不足", host="数据库-01", summary="剩余 5% 🚨"))
        response = client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE)
        assert outcomes(response) == ["new"]


@pytest.mark.parametrize("path,raw,error,where", [
    ("/api/v1/alerts/alertmanager", b'{"alerts": [', "malformed JSON", "$"),
    ("/api/v1/alerts/alertmanager", b'\xff\xfe{"alerts": []}', "malformed JSON", "$"),
    ("/api/v1/alerts/alertmanager", b'{"alerts": "many"}', "invalid payload", "$.alerts"),
    ("/api/v1/alerts/alertmanager", b'{"alerts": [{"labels": {}}]}', "invalid payload", "$.alerts[0]"),
    ("/api/v1/alerts/alertmanager", b'', "malformed JSON", "$"),
    ("/api/v1/alerts/zabbix", b'{"event_value": "1"}', "invalid payload", "$.event_id"),
    ("/api/v1/alerts/zabbix", b'{"event_id": "{EVENT.ID}", "event_value": "1"}', "invalid payload", "$.event_id"),
    ("/api/v1/alerts/zabbix", b'{"event_id": "1", "event_value": true}', "invalid payload", "$.event_value"),
    ("/api/v1/findings", b'{"ci": "x"}', "invalid payload", "$"),
    ("/api/v1/findings", b'{"ci": "x", "title": "t", "observed_at": 5}', "invalid payload", "$.observed_at"),
])
def test_bad_input_is_400_with_path(redis_url, path, raw, error, where):
    with client_for(redis_url) as client:
        response = client.post(path, content=raw, headers={**SOURCE, "Content-Type": "application/json"})
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == error
        assert body["detail"][0]["path"] == where
        assert body["detail"][0]["message"]


def test_nothing_is_stored_for_a_rejected_batch(redis_url):
    with client_for(redis_url) as client:
        bad = am_body(am_alert("A"), {"labels": {"alertname": "B"}, "startsAt": "nope"})
        assert client.post("/api/v1/alerts/alertmanager", json=bad, headers=SOURCE).status_code == 400
        good = am_body(am_alert("A"))
        assert outcomes(client.post("/api/v1/alerts/alertmanager", json=good, headers=SOURCE)) == ["new"]


def test_body_over_the_limit_is_413(redis_url):
    with client_for(redis_url, ALERTGATE_BODY_LIMIT="4096") as client:
        big = am_body(*[am_alert(f"A{i}") for i in range(100)])
        response = client.post("/api/v1/alerts/alertmanager", json=big, headers=SOURCE)
        assert response.status_code == 413
        assert "4096" in response.json()["error"]


def test_default_limit_accepts_a_large_group(redis_url):
    with client_for(redis_url) as client:
        big = am_body(*[am_alert(f"A{i}", host=f"h{i % 50}") for i in range(2000)])
        response = client.post("/api/v1/alerts/alertmanager", json=big, headers=SOURCE)
        assert outcomes(response) == ["new"] * 2000


@pytest.mark.parametrize("headers,status", [
    ({}, 401),
    ({"Authorization": "Bearer wrong"}, 401),
    ({"Authorization": "Digest abc"}, 401),
    ({"Authorization": f"Bearer {VIEWER_SECRET}"}, 403),
    (basic("alertmanager", SOURCE_SECRET), 200),
    ({"Authorization": f"Bearer {ADMIN_SECRET}"}, 200),
])
def test_ingest_credentials(redis_url, headers, status):
    with client_for(redis_url) as client:
        response = client.post("/api/v1/alerts/alertmanager", json=am_body(am_alert()), headers=headers)
        assert response.status_code == status
        if status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]


def test_every_endpoint_but_healthz_needs_a_credential(redis_url):
    """Every operation of the OpenAPI document, which lists every route (checked here too)."""
    document = openapi_document()
    with client_for(redis_url) as client:
        # (an ASGI route, like the ingest routes, names its methods in its handler's `opt`)
        every = {(m, r.path.replace(":str}", "}")) for r in client.app.routes
                 for m in r.methods or r.route_handler.opt["methods"] if m not in ("HEAD", "OPTIONS")}
        # (the console's pages are HTML for a browser, not the API: signed in by cookie, below)
        console = {(m, p) for m, p in every if p.startswith("/console")}
        routes = every - console
        assert routes == {(m.upper(), p) for p, item in document["paths"].items() for m in item}
        open_pages = {("GET", "/console"), ("GET", "/console/login"), ("POST", "/console/login"),
                      ("POST", "/console/language"), ("GET", "/console/static/{name}")}
        for method, path in sorted(console - open_pages):
            url = path.format(ticket_id="INC-X-1", action="accept", window_id="MW-000001")
            response = client.request(method, url, follow_redirects=False)
            assert (response.status_code, response.headers.get("location", "/console/login")[:14]) in (
                (303, "/console/login"), (401, "/console/login")), (method, path, response.status_code)
        assert client.get("/healthz").status_code == 200
        for method, path in sorted(routes - {("GET", "/healthz")}):
            url = path.format(ticket_id="INC-X-1", action="accept", problem_id="PRB-000001", name="nightly",
                              window_id="MW-000001")
            response = client.request(method, url, json={})
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] and response.json()["error"]
        for path in ("/readyz", "/metrics"):
            assert client.get(path, headers={"Authorization": f"Bearer {VIEWER_SECRET}"}).status_code == 200


def test_metrics_count_received_and_processed(redis_url):
    with client_for(redis_url) as client:
        body = am_body(am_alert("A"), am_alert("B"))
        client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE)
        client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE)
        text = client.get("/metrics", headers={"Authorization": f"Bearer {VIEWER_SECRET}"}).text
        assert 'alertgate_alerts_received_total{source="alertmanager"} 4.0' in text
        assert 'alertgate_alerts_processed_total{outcome="new",source="alertmanager"} 2.0' in text
        assert 'alertgate_alerts_processed_total{outcome="repeat",source="alertmanager"} 2.0' in text
        assert 'alertgate_ingest_duration_seconds_count{source="alertmanager"} 2.0' in text


def test_unknown_route_and_method_are_json_errors(redis_url):
    with client_for(redis_url) as client:
        assert client.get("/api/v1/nothing", headers=SOURCE).json()["error"]
        response = client.get("/api/v1/alerts/alertmanager", headers=SOURCE)
        assert response.status_code == 405 and response.json()["error"]
        assert response.headers["allow"] == "POST"


def test_alerts_alertmanager_left_out_are_counted_and_logged(redis_url):
    """Alertmanager's max_alerts leaves alerts out of each webhook (``truncatedAlerts``): they never
    arrive, and nothing said so. Now they are counted (rule AlertgateAlertsTruncated) and logged."""
    import structlog.testing

    view = {"Authorization": f"Bearer {VIEWER_SECRET}"}
    with client_for(redis_url) as client, structlog.testing.capture_logs() as logs:
        body = {**am_body(am_alert("DiskFull", host="db1")), "truncatedAlerts": 150}
        answer = client.post("/api/v1/alerts/alertmanager", json=body, headers=SOURCE)
        odd = client.post("/api/v1/alerts/alertmanager", headers=SOURCE,
                          json={**am_body(am_alert("DiskFull", host="db2")), "truncatedAlerts": "many"})
        metrics = client.get("/metrics", headers=view).text
    assert answer.status_code == odd.status_code == 200, (answer.text, odd.text)   # (still read leniently)
    assert 'alertgate_alerts_truncated_total{source="alertmanager"} 150.0' in metrics
    [warning] = [entry for entry in logs if entry["event"] == "alerts_left_out_by_sender"]
    assert warning["left_out"] == 150 and "max_alerts: 0" in warning["fix"]
