"""Asking Zabbix which problems are still open: ``problem.get`` by event id, with an API token.
A problem closed by hand, or recovered while the webhook was lost, is no longer listed; that it
is closed is confirmed with ``event.get`` (its recovery event), since a problem on a host the
token's user may not read is not listed either."""

from __future__ import annotations

from pathlib import Path

import httpx

from alertgate.reconcile.alertmanager import SourceUnavailable
from alertgate.settings import ZabbixApi

EVENT_PREFIX = "zabbix:"  # the occurrence id of a Zabbix event (intake/sources/zabbix.py)


def event_id(occurrence_id: str | None) -> str | None:
    if occurrence_id and occurrence_id.startswith(EVENT_PREFIX):
        rest = occurrence_id[len(EVENT_PREFIX):]
        return rest if rest.isdigit() else None
    return None


class ZabbixClient:
    """Zabbix before 6.4 takes the token in the request's ``auth``; 6.4 and later in a header."""

    def __init__(self, api: ZabbixApi, client: httpx.AsyncClient) -> None:
        self.api, self._client = api, client
        self._token = api.token or (Path(api.token_file).read_text().strip() if api.token_file else "")
        self._in_body: bool | None = None

    async def _call(self, method: str, params: dict, auth: bool = True) -> object:
        body: dict = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
        headers = {"Content-Type": "application/json-rpc"}
        if auth:
            if self._in_body is None:
                version = str(await self._call("apiinfo.version", {}, auth=False))
                major, minor = (int(part) for part in version.split(".")[:2])
                self._in_body = (major, minor) < (6, 4)
            if self._in_body:
                body["auth"] = self._token
            else:
                headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = await self._client.post(self.api.url, json=body, headers=headers)
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SourceUnavailable(f"{self.api.name}: {type(exc).__name__}: {str(exc)[:200]}") from None
        if not isinstance(answer, dict) or "error" in answer or "result" not in answer:
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise SourceUnavailable(f"{self.api.name}: {method} answered {str(error)[:200]}")
        return answer["result"]

    async def create_maintenance(self, name: str, hosts: list[str], starts_at: int, ends_at: int,
                                 description: str) -> str:
        """A one-time maintenance (with data collection) of these hosts; its id. Zabbix truncates
        times to the minute, so the start is floored and the end ceiled, and a period is at least
        5 minutes."""
        found = await self._call("host.get", {"output": ["hostid", "host"], "filter": {"host": hosts}})
        ids = [{"hostid": row["hostid"]} for row in found if isinstance(row, dict)]
        missing = sorted(set(hosts) - {row.get("host") for row in found if isinstance(row, dict)})
        if missing:
            raise SourceUnavailable(f"{self.api.name}: no host {', '.join(missing)} in Zabbix")
        since = starts_at - starts_at % 60
        till = max(ends_at + (-ends_at) % 60, since + 300)
        result = await self._call("maintenance.create", {
            "name": name, "maintenance_type": 0, "description": description, "active_since": since,
            "active_till": till, "hosts": ids,
            "timeperiods": [{"timeperiod_type": 0, "start_date": since, "period": till - since}]})
        return str(result["maintenanceids"][0])

    async def delete_maintenance(self, maintenance_id: str) -> None:
        found = await self._call("maintenance.get", {"output": ["maintenanceid"], "maintenanceids": [maintenance_id]})
        if found:
            await self._call("maintenance.delete", [maintenance_id])

    async def acknowledge(self, event_id: str, message: str, acknowledge: bool) -> None:
        """A message on the event (and its acknowledgement): Zabbix's event.acknowledge, action
        bits 4 (message) and 2 (acknowledge)."""
        await self._call("event.acknowledge", {"eventids": [event_id], "action": 6 if acknowledge else 4,
                                               "message": message})

    async def event_states(self, event_ids: list[str]) -> tuple[set[str], set[str]]:
        """Which of these events are still open problems (``problem.get``), and which are closed:
        ``event.get`` shows their recovery event. One in neither is one this API user cannot
        see, or another Zabbix's (``decide.events_present``)."""
        if not event_ids:
            return set(), set()
        still_open = self._ids(await self._call("problem.get", {"eventids": event_ids, "output": ["eventid"]}),
                               "problem.get")
        rest = [event for event in event_ids if event not in still_open]
        if not rest:
            return still_open, set()
        found = await self._call("event.get", {"eventids": rest, "output": ["eventid", "r_eventid"]})
        closed = {str(row.get("eventid")) for row in self._rows(found, "event.get")
                  if str(row.get("r_eventid") or "0") != "0"}
        return still_open, closed

    def _rows(self, result: object, method: str) -> list[dict]:
        if not isinstance(result, list):
            raise SourceUnavailable(f"{self.api.name}: {method} answered {str(result)[:200]}")
        return [row for row in result if isinstance(row, dict)]

    def _ids(self, result: object, method: str) -> set[str]:
        return {str(row.get("eventid")) for row in self._rows(result, method)}
