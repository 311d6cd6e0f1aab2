"""The framework's limit on this machine: a bare Litestar + msgspec endpoint that only decodes the
same Alertmanager bodies (same Struct as the gateway), served with the same uvicorn settings."""

from __future__ import annotations

import msgspec
from litestar import Litestar, Request, Response, post

from alertgate.intake.sources.alertmanager import AlertmanagerPayload
from alertgate.runtime.heap import settle_after_start

_decode = msgspec.json.Decoder(AlertmanagerPayload).decode


@post("/api/v1/alerts/alertmanager", status_code=200)
async def ingest(request: Request) -> Response[bytes]:
    payload = _decode(await request.body())
    return Response(b'{"alerts": %d}' % len(payload.alerts), media_type="application/json")


def create_app() -> Litestar:
    app = Litestar([ingest], openapi_config=None)
    settle_after_start()  # the gateway's collector settings too, so the two stay alike
    return app


def main(factory: str) -> int:
    """Serves the app ``factory`` makes as bench/run.py starts it (``--port``, ``--workers``): the
    gateway's server settings and process model."""
    import argparse

    from alertgate.runtime.serving import config_for, serve

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    return serve(config_for(factory, "127.0.0.1", args.port, args.workers, log_level="warning"))


if __name__ == "__main__":
    raise SystemExit(main("ceiling_app:create_app"))
