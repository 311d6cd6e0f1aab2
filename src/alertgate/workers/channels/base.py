"""What every notification channel is: a sender of one notice to one address that says, when it
fails, whether a retry may succeed."""

from __future__ import annotations

from typing import Protocol

from alertgate.workers.notices import Notice


class ChannelError(Exception):
    """``retryable``: a later attempt may succeed. ``unreachable``: the channel's server did not
    answer at all (no connection, or silence until the timeout), so the rest of a batch's notices
    on that channel would each wait the same way (``workers/delivery.deliver_many`` leaves them
    for the retry instead)."""

    def __init__(self, message: str, retryable: bool, unreachable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.unreachable = unreachable


class Channel(Protocol):
    def __call__(self, notice: Notice, address: str, settings: object) -> None:
        """Deliver, or raise ChannelError(retryable=...)."""
