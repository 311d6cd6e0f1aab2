"""Zabbix webhook, as posted by the media type in ``config/zabbix/`` → one Alert.

Zabbix sends every value as a string and leaves a macro it cannot resolve in place
(``{EVENT.RECOVERY.DATE}``): such values are treated as absent. ``event_value`` 1 is a problem,
0 a recovery (carrying the problem's ``event_id``); ``event_update_status`` 1 is an
acknowledgement or comment, recorded on the ticket and never a new ticket.
"""

from __future__ import annotations

import re

from datetime import datetime, timezone
from typing import Annotated

import msgspec

from alertgate.intake.sources.common import (
    UNKNOWN,
    ErrorDetail,
    PayloadError,
    SourceContext,
    decode_json,
    present,
    sane_time,
    stable_hash,
)
from alertgate.intake.sources.base import Source
from alertgate.intake.sources.limits import NAME_CHARS, PER_ALERT, VALUE_CHARS, Labels, LabelName, Text, Value
from alertgate.tickets.alert import Alert, AlertStatus

NAME = "zabbix"
SEVERITY_NAMES = {
    "0": "not_classified",
    "1": "information",
    "2": "warning",
    "3": "average",
    "4": "high",
    "5": "disaster",
}

Scalar = Value | int | float | None    # every value arrives as a string; numbers are tolerated
LongScalar = Text | int | float | None


class ZabbixTag(msgspec.Struct):
    tag: LabelName
    value: Value = ""


ZabbixTags = Annotated[list[ZabbixTag], msgspec.Meta(max_length=PER_ALERT)]


class ZabbixPayload(msgspec.Struct):
    event_id: Scalar = None
    event_value: Scalar = None
    event_update_status: Scalar = None
    event_nseverity: Scalar = None
    event_severity: Scalar = None
    event_name: Scalar = None
    event_timestamp: Scalar = None
    event_tags: Text | ZabbixTags | Labels | None = None
    event_opdata: LongScalar = None
    event_update_action: Scalar = None
    event_update_message: LongScalar = None
    event_update_user: Scalar = None
    host: Scalar = None
    host_name: Scalar = None
    host_ip: Scalar = None
    trigger_id: Scalar = None
    trigger_name: Scalar = None
    trigger_description: LongScalar = None
    zabbix_url: Scalar = None


# alertgate's own message on an event (workers/source_sync.py), as the event's update webhook brings it back.
ECHO_MARK = "(via alertgate)"
_ECHO = re.compile(r"INC-[A-Z0-9]+-\d+ (?:accepted|resolved|closed|reopened) by .* \(via alertgate\)")


def is_echo(alert: Alert) -> bool:
    """An update Zabbix sends because alertgate acknowledged the event: already on the ticket."""
    return alert.update and alert.source == NAME and bool(alert.update_note and _ECHO.search(alert.update_note))

def parse(body: bytes, ctx: SourceContext) -> list[Alert]:
    return [_normalize(decode_json(body, ZabbixPayload), ctx)]


def _required(value: Scalar, path: str, allowed: tuple[str, ...] | None = None) -> str:
    text = present(value)
    if text is None:
        raise PayloadError("invalid payload", [ErrorDetail(path, "required, and must not be an unresolved macro")])
    text = text.strip()
    if allowed is not None and text not in allowed:
        raise PayloadError("invalid payload", [ErrorDetail(path, f"must be one of {', '.join(allowed)}, got {text!r}")])
    return text


def _tags(raw: str | list[ZabbixTag] | dict[str, str] | None) -> dict[str, str]:
    """``{EVENT.TAGSJSON}`` as sent (JSON text or list) → labels; a repeated tag joins its values.
    A media type of one's own may send ``{EVENT.TAGS}`` instead (``service:mysql, env:prod``):
    read too, rather than refusing every alert of that media type."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        if present(raw) is None:
            return {}
        if not raw.lstrip().startswith("["):
            return _plain_tags(raw)
        try:
            raw = msgspec.json.decode(raw, type=ZabbixTags)
        except (msgspec.MsgspecError, RecursionError) as exc:
            raise PayloadError("invalid payload", [ErrorDetail("$.event_tags", f"not a JSON list of tags: {exc}")]) from None
    labels: dict[str, str] = {}
    for item in raw or ():
        labels[item.tag] = f"{labels[item.tag]},{item.value}" if item.tag in labels else item.value
    return labels


def _plain_tags(text: str) -> dict[str, str]:
    """``{EVENT.TAGS}``: ``tag:value`` (or a bare ``tag``) separated by commas."""
    labels: dict[str, str] = {}
    for part in text.split(","):
        tag, _, value = part.strip().partition(":")
        tag, value = tag.strip(), value.strip()
        if tag:
            labels[tag] = f"{labels[tag]},{value}" if tag in labels else value
    if len(labels) > PER_ALERT or any(len(t) > NAME_CHARS or len(v) > VALUE_CHARS for t, v in labels.items()):
        raise PayloadError("invalid payload", [ErrorDetail("$.event_tags", (
            f"at most {PER_ALERT} tags, names of {NAME_CHARS} and values of {VALUE_CHARS} characters"))])
    return labels


def _timestamp(value: Scalar) -> datetime | None:
    text = present(value)
    if text is None:
        return None
    try:
        moment = datetime.fromtimestamp(float(text), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise PayloadError("invalid payload", [ErrorDetail("$.event_timestamp", f"not epoch seconds: {text!r}")]) from None
    return sane_time(moment, "$.event_timestamp")


def _normalize(payload: ZabbixPayload, ctx: SourceContext) -> Alert:
    event_id = _required(payload.event_id, "$.event_id")
    value = _required(payload.event_value, "$.event_value", ("0", "1"))
    is_update = (present(payload.event_update_status) or "0").strip() == "1"
    status = AlertStatus.FIRING if value == "1" else AlertStatus.RESOLVED
    occurrence_id = f"zabbix:{event_id}"
    if is_update:
        # Each acknowledgement or comment is its own delivery; a retry of one is a repeat.
        delivery = "update:" + stable_hash(
            *(present(v) or "" for v in (payload.event_update_action, payload.event_update_message,
                                        payload.event_update_user, payload.event_timestamp))
        )
    else:
        delivery = status.value
    nseverity = present(payload.event_nseverity)
    trigger_id, zabbix_url = present(payload.trigger_id), present(payload.zabbix_url)
    links = {}
    if zabbix_url:
        links["zabbix"] = (
            f"{zabbix_url.rstrip('/')}/tr_events.php?triggerid={trigger_id}&eventid={event_id}"
            if trigger_id else zabbix_url
        )
    name = present(payload.event_name) or present(payload.trigger_name)
    return Alert(
        source=NAME,
        occurrence_id=occurrence_id,
        ci=present(payload.host) or present(payload.host_name) or UNKNOWN,
        symptom=trigger_id or name or UNKNOWN,
        status=status,
        severity=SEVERITY_NAMES.get((nseverity or "").strip())
        or (present(payload.event_severity) or "").lower() or None,
        title=name or UNKNOWN,
        description=present(payload.trigger_description) or "",
        labels=_tags(payload.event_tags),
        observed_at=_timestamp(payload.event_timestamp) or ctx.received_at,
        received_at=ctx.received_at,
        links=links,
        update=is_update,
        update_actor=present(payload.event_update_user) if is_update else None,
        update_note=" ".join(filter(None, (present(payload.event_update_action),
                                           present(payload.event_update_message)))) or None
        if is_update else None,
        delivery_id=f"{occurrence_id}:{delivery}",
    )


SOURCE = Source(
    name=NAME, path="/api/v1/alerts/zabbix", summary="Zabbix media-type event", payload=ZabbixPayload,
    parse=parse, auto_resolve=True, recognises=lambda decoded: isinstance(decoded, dict) and "event_id" in decoded,
)
