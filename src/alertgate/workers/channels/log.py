"""The log channel: the notice as a structured log line (a fallback that cannot fail)."""

from __future__ import annotations

import structlog

log = structlog.get_logger("alertgate.notice")


def send(notice, address: str, settings: object) -> None:
    log.info("notice", ticket_id=notice.ticket_id, kind=notice.kind, recipient=notice.recipient,
             address=address, subject=notice.subject, dedup_key=notice.dedup_key)
