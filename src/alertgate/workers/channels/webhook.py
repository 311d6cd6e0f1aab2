"""The webhook channel: the notice as JSON, POSTed with an optional HMAC-SHA256 signature.
Phone notices for P1 go the same way to a voice gateway (``notify.phone``).

One ``httpx.Client`` per process carries every POST, its connections kept alive between them:
``httpx.post`` builds a client per call, and with it a TLS context that loads the CA bundle,
about 50 ms of CPU per notice even to a plain-http endpoint (``bench/README.md``). A process
forked from one that had a client (RQ's work horse) makes its own."""

from __future__ import annotations

import hashlib
import hmac
import os

import httpx
import msgspec

from alertgate.workers.channels.base import ChannelError

_encode = msgspec.json.Encoder().encode


_shared: tuple[int, httpx.Client] | None = None   # (the process that made it, the client)


def _client() -> httpx.Client:
    global _shared
    if _shared is None or _shared[0] != os.getpid():
        _shared = (os.getpid(), httpx.Client())
    return _shared[1]


def _post(endpoint, notice, address: str, channel: str) -> None:
    if endpoint is None:
        raise ChannelError(f"{channel} is not configured (notify.{channel})", retryable=False)
    body = _encode({"channel": channel, "address": address, "notice": notice})
    headers = {"Content-Type": "application/json", "X-Alertgate-Dedup-Key": notice.dedup_key}
    if endpoint.secret:
        signature = hmac.new(endpoint.secret.encode(), body, hashlib.sha256).hexdigest()
        headers["X-Alertgate-Signature"] = f"sha256={signature}"
    try:
        response = _client().post(endpoint.url, content=body, headers=headers, timeout=float(endpoint.timeout))
    except httpx.HTTPError as exc:   # (unreachable: no connection, or no answer in time; a
        # connection the receiver dropped midway is not: the next notice may well get through)
        raise ChannelError(f"{channel} {endpoint.url}: {type(exc).__name__}", retryable=True,
                           unreachable=isinstance(exc, (httpx.ConnectError, httpx.TimeoutException))) from None
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise ChannelError(f"{channel} answered {response.status_code}", retryable=True)
    if response.status_code >= 300:
        raise ChannelError(f"{channel} answered {response.status_code}", retryable=False)


def send(notice, address: str, settings) -> None:
    _post(settings.notify.webhook, notice, address, "webhook")


def send_phone(notice, address: str, settings) -> None:
    _post(settings.notify.phone, notice, address, "phone")
