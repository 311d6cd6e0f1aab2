"""The ``alertgate`` command: run, serve, worker, token."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from alertgate.observability.logging import configure_logging
from alertgate.settings import Role, Settings, SettingsError, hash_secret, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"alertgate: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(args: argparse.Namespace) -> int:
    from alertgate.runtime.supervisor import run

    settings = _settings()
    configure_logging(settings.log_level)
    return run(settings)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.host:
        os.environ["ALERTGATE_HOST"] = args.host
    if args.port is not None:
        os.environ["ALERTGATE_PORT"] = str(args.port)
    settings = _settings()
    configure_logging(settings.log_level)
    if not settings.redis_url:
        print("alertgate: ALERTGATE_REDIS_URL is not set (`alertgate run` starts an embedded Redis)",
              file=sys.stderr)
        return 2
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Must be set before prometheus_client is imported by any server process.
        from alertgate.runtime.supervisor import prepare_metrics_dir

        metrics_dir = Path(settings.data_dir) / "metrics" / f"serve-{os.getpid()}"
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prepare_metrics_dir(metrics_dir)
    import uvicorn

    uvicorn.run(
        "alertgate.gateway.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
        h11_max_incomplete_event_size=64 * 1024,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from alertgate.workers.worker import connect_queue_redis, create_worker

    settings = _settings()
    configure_logging(settings.log_level)
    worker = create_worker(settings, connect_queue_redis(settings))
    worker.work(with_scheduler=True, logging_level=settings.log_level.upper())
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """Print a new secret and the config entry that holds only its hash."""
    secret = secrets.token_urlsafe(32)
    print(f"secret (give it to the sender, it is not stored): {secret}")
    print("add to tokens: in alertgate.yaml:")
    print(f"  - name: {args.name}\n    role: {args.role}\n    secret_sha256: {hash_secret(secret)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alertgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="embedded Redis (unless configured) + gateway + worker").set_defaults(func=cmd_run)
    serve = sub.add_parser("serve", help="the HTTP gateway only")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("worker", help="an RQ worker with its scheduler").set_defaults(func=cmd_worker)
    token = sub.add_parser("token", help="make a new credential")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--name", required=True)
    token.set_defaults(func=cmd_token)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
