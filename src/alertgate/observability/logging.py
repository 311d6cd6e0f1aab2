"""JSON log lines on stderr: structlog for our events, the same shape for stdlib loggers
(uvicorn, rq). Context such as the occurrence id is bound with contextvars."""

from __future__ import annotations

import logging
import os
import sys

import msgspec
import structlog

def _add_pid(_logger: object, _method: str, event: dict) -> dict:
    # Several server and job processes write to one stream; the pid tells them apart.
    event["pid"] = os.getpid()
    return event


_SHARED = [
    _add_pid,
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _to_json(event: dict, **_: object) -> bytes:
    return msgspec.json.encode(event, enc_hook=str)


def configure_logging(level: str = "info") -> None:
    numeric = logging.getLevelName(level.upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer()],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    structlog.configure(
        processors=[*_SHARED, structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(serializer=_to_json)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write() per line: several processes share the stream and must not interleave.
        logger_factory=structlog.BytesLoggerFactory(file=sys.stderr.buffer),
        cache_logger_on_first_use=True,
    )
