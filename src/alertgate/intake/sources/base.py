"""What the rest of alertgate knows of a source: one descriptor per sender, so that a new source
is its module plus one line in the registry (``sources/__init__.py``). Paths, the OpenAPI
document, the CLI's choices, the rules tester, the auto-resolve defaults and the ticket's
``source`` are all derived from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from alertgate.intake.sources.common import SourceContext
from alertgate.tickets.alert import Alert

Parser = Callable[[bytes, SourceContext], list[Alert]]


@dataclass(frozen=True)
class Source:
    name: str                            # the alert's `source`, `alert_source` on its tickets
    path: str                            # where it posts
    summary: str                         # for the OpenAPI document
    payload: Any                         # the type its body decodes into (for the OpenAPI schema)
    parse: Parser                        # body → Alerts (pure; PayloadError for what can never be accepted)
    auto_resolve: bool                   # a recovery resolves the master, unless settings say otherwise
    ticket_source: str = "monitoring"    # the handbook's ticket source: monitoring or inspection
    recognises: Callable[[Any], bool] = lambda decoded: False  # a decoded body looks like this source's
