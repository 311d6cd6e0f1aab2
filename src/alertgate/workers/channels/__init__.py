"""Notification channels, by name. Each sends one notice to one recipient address and says,
when it fails, whether a retry may succeed."""

from __future__ import annotations

from typing import Protocol

from alertgate.workers.channels import email, log, webhook
from alertgate.workers.notices import Notice


class ChannelError(Exception):
    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    def __call__(self, notice: Notice, address: str, settings: object) -> None:
        """Deliver, or raise ChannelError(retryable=...)."""


CHANNELS: dict[str, Channel] = {
    "log": log.send,
    "email": email.send,
    "webhook": webhook.send,
    "phone": webhook.send_phone,
}
