"""What reconciliation asks of a real Zabbix 6.0 when it holds very many events (SPEC §9).

A trigger in Zabbix's "multiple" problem generation mode opens a new event at every value: its
alertgate master collects one duplicate per event, and reconciliation asks for all of them in one
``problem.get`` (and ``event.get`` for those not open). This starts the end-to-end tests' Zabbix
(``tests/e2e/zabbix_server.py``: PostgreSQL, zabbix_server, the PHP API with Zabbix's documented
least ``memory_limit``, 128M), makes ``--problems`` open problems with one ``zabbix_sender`` call,
and times ``ZabbixClient.event_states`` (alertgate's own call) for those events and as many
unknown ids, through a Super admin's token and through the token of a user who may only read the
host's group (Zabbix then checks permissions per event in SQL).

    .venv/bin/python bench/zabbix_reconcile.py --problems 20000      # about 3 minutes, as root
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alertgate.reconcile.zabbix import ZabbixClient  # noqa: E402
from alertgate.settings import ZabbixApi as ZabbixSettings  # noqa: E402
from tests.e2e.zabbix_server import ZabbixApi, ZabbixServer, missing_parts  # noqa: E402

HOST, KEY = "storm01", "storm.value"


def monitored(api: ZabbixApi) -> str:
    """A host, a trapper item and a trigger opening a problem at every value; its group's id."""
    group = api.call("hostgroup.create", {"name": "bench"})["groupids"][0]
    host = api.call("host.create", {"host": HOST, "groups": [{"groupid": group}]})["hostids"][0]
    api.call("item.create", {"hostid": host, "name": "value", "key_": KEY, "type": 2, "value_type": 3})
    api.call("trigger.create", {"description": "flapping", "expression": f"last(/{HOST}/{KEY})>0", "priority": 4,
                                "type": 1, "manual_close": 1})
    return group


def token_of(api: ZabbixApi, userid: str) -> str:
    token_id = api.call("token.create", {"name": secrets.token_hex(4), "userid": userid})["tokenids"][0]
    return api.call("token.generate", [token_id])[0]["token"]


def reader(api: ZabbixApi, group: str) -> str:
    """A user of the Admin role who may read only this group; its user id."""
    usergroup = api.call("usergroup.create", {"name": "readers", "rights": [{"id": group, "permission": 2}]})
    role = api.call("role.get", {"output": ["roleid"], "filter": {"type": 2}, "limit": 1})[0]["roleid"]
    return api.call("user.create", {"username": "reader", "passwd": secrets.token_urlsafe(16), "roleid": role,
                                    "usrgrps": [{"usrgrpid": usergroup["usrgrpids"][0]}]})["userids"][0]


def open_problems(server: ZabbixServer, api: ZabbixApi, count: int) -> list[str]:
    server.reload_cache()
    server.send(HOST, KEY, "1")   # (retried until the server's cache knows the item)
    first = int(time.time()) - count
    values = Path(server.work) / "values.txt"
    values.write_text("".join(f"{HOST} {KEY} {first + i} 1\n" for i in range(count - 1)))
    subprocess.run(["zabbix_sender", "-z", "127.0.0.1", "-p", str(server.server_port), "-T", "-i", str(values)],
                   capture_output=True, check=True)
    deadline = time.monotonic() + 900
    while int(api.call("problem.get", {"countOutput": True})) < count:
        if time.monotonic() > deadline:
            raise TimeoutError("Zabbix did not open every problem within 15 minutes")
        time.sleep(2)
    return [row["eventid"] for row in api.call("problem.get", {"output": ["eventid"]})]


async def timed(url: str, token: str, events: list[str]) -> tuple[int, int, float]:
    async with httpx.AsyncClient(timeout=300) as client:
        started = time.monotonic()
        still_open, closed = await ZabbixClient(ZabbixSettings(name="bench", url=url, token=token),
                                                client).event_states(events)
        return len(still_open), len(closed), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=20_000)
    parser.add_argument("--memory-limit", default="128M", help="the PHP API's memory_limit")
    args = parser.parse_args()
    if (missing := missing_parts()) is not None:
        sys.exit(f"a real Zabbix cannot run here: {missing}")
    with tempfile.TemporaryDirectory() as work:
        server = ZabbixServer(Path(work), php_memory_limit=args.memory_limit)
        server.start()
        try:
            api = ZabbixApi(server.api_url).login("Admin", "zabbix")
            group = monitored(api)
            admin = api.call("user.get", {"output": ["userid"], "filter": {"username": "Admin"}})[0]["userid"]
            tokens = {"Super admin": token_of(api, admin), "reader of the group": token_of(api, reader(api, group))}
            events = open_problems(server, api, args.problems)
            unknown = [str(10**9 + i) for i in range(len(events))]
            print(f"{len(events)} open problems; PHP memory_limit {args.memory_limit}")
            print("| token | ids asked | open | closed | seconds |\n|---|---|---|---|---|")
            for name, token in tokens.items():
                for asked in (events[:1000], events, events + unknown):
                    still_open, closed, seconds = asyncio.run(timed(server.api_url, token, asked))
                    print(f"| {name} | {len(asked):,} | {still_open:,} | {closed:,} | {seconds:.2f} |", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
