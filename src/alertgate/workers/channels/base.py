"""What every notification channel is: a sender of one notice to one address that says, when it
fails, whether a retry may succeed."""

from __future__ import annotations

from typing import Protocol

from alertgate.workers.notices import Notice


class ChannelError(Exception):
    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    def __call__(self, notice: Notice, address: str, settings: object) -> None:
        """Deliver, or raise ChannelError(retryable=...)."""
