"""Notification channels, by name (``rules.tables.CHANNEL_NAMES``): one sender each (``base``)."""

from __future__ import annotations

from alertgate.rules.tables import CHANNEL_NAMES
from alertgate.workers.channels import email, log, webhook
from alertgate.workers.channels.base import Channel, ChannelError

CHANNELS: dict[str, Channel] = {
    "log": log.send,
    "email": email.send,
    "webhook": webhook.send,
    "phone": webhook.send_phone,
}
assert tuple(CHANNELS) == CHANNEL_NAMES, "a channel name without a sender, or a sender without a name"

session = email.session   # (what a batch's notices share: one SMTP connection)

__all__ = ["CHANNELS", "Channel", "ChannelError", "session"]
