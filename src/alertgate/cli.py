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


def _warn_without_ingest_credential(settings: Settings) -> None:
    """Nothing can deliver alerts without a token of role source or admin: say so at start."""
    if not any(token.role in (Role.SOURCE, Role.ADMIN) for token in settings.all_tokens()):
        print("alertgate: warning: no credential can ingest alerts (no token of role source or admin). "
              "Add one with `alertgate token --role source --name zabbix --write`, or set "
              "ALERTGATE_BOOTSTRAP_TOKENS=source:SECRET for a first try", file=sys.stderr)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.host:
        os.environ["ALERTGATE_HOST"] = args.host
    if args.port is not None:
        os.environ["ALERTGATE_PORT"] = str(args.port)
    settings = _settings()
    configure_logging(settings.log_level)
    _warn_without_ingest_credential(settings)
    if not settings.redis_url:
        print("alertgate: ALERTGATE_REDIS_URL is not set (`alertgate run` starts an embedded Redis)",
              file=sys.stderr)
        return 2
    _metrics_dir(settings, "serve")
    from alertgate.runtime.serving import config_for, serve

    return serve(config_for("alertgate.gateway.app:app_from_environment", settings.host, settings.port, args.workers))


def _metrics_dir(settings: Settings, role: str) -> None:
    """Multiprocess metrics: set before prometheus_client is imported by this or a child process."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from alertgate.runtime.supervisor import prepare_metrics_dir

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prepare_metrics_dir(
            Path(settings.data_dir) / "metrics" / f"{role}-{os.getpid()}")


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings()
    configure_logging(settings.log_level)
    _metrics_dir(settings, "worker")
    from alertgate.workers.worker import run_worker, serve_metrics

    if settings.worker_metrics_port is not None:
        serve_metrics(settings.worker_metrics_port, settings.host)
    return run_worker(settings)


def cmd_token(args: argparse.Namespace) -> int:
    """A new secret and the config entry that holds only its hash: printed, or with ``--write``
    added to ``tokens:`` in alertgate.yaml (the running gateway takes it at its next start)."""
    from alertgate.config_files import add_token, token_entry
    from alertgate.settings import TokenConfig

    secret = secrets.token_urlsafe(32)
    token = TokenConfig(args.name, Role(args.role), hash_secret(secret))
    if args.write:
        try:
            written = add_token(Path(_settings().config_dir), token)
        except ValueError as exc:
            print(f"alertgate: {exc}", file=sys.stderr)
            return 2
        print(f"secret (give it to the sender, it is not stored): {secret}")
        print(f"token {args.name!r} (role {args.role}) added to {written}; restart the gateway to use it")
        return 0
    print(f"secret (give it to the sender, it is not stored): {secret}")
    print("in alertgate.yaml, under tokens: (replace `tokens: []` with `tokens:` for the first one):")
    print(token_entry(token), end="")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Write the shipped settings, rules, tables and integration files into a folder to edit."""
    from alertgate.config_files import write_defaults

    target = Path(args.directory)
    written, kept = write_defaults(target)
    for path in written:
        print(f"wrote {path}")
    if kept:
        print(f"kept {len(kept)} file(s) already there, unchanged")
    print(f"use it with ALERTGATE_CONFIG_DIR={target.resolve()} (./config is found without it)")
    return 0


def cmd_rules_check(args: argparse.Namespace) -> int:
    """Validate every rule file; exit 1 listing every error with file and line."""
    from alertgate.rules.compile import check_sizes
    from alertgate.rules.schema import RulesInvalid, check_against_tables, load_rules
    from alertgate.rules.tables import TablesInvalid, load_tables

    directory = Path(args.directory) if args.directory else Path(_settings().config_dir) / "rules"
    if directory.is_file():   # a file about to go in: checked with the rules it will join
        return _check_rule_file(directory, Path(_settings().config_dir) / "rules")
    try:
        tables = load_tables(directory.parent)
        rules = load_rules(directory)
        check_against_tables(rules, tables)
        check_sizes(rules)
    except TablesInvalid as exc:
        print(exc, file=sys.stderr)
        return 1
    except RulesInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"{len(exc.errors)} error(s); nothing was loaded", file=sys.stderr)
        return 1
    stages = {}
    for rule in rules:
        stages[rule.stage] = stages.get(rule.stage, 0) + 1
    print(f"ok: {len(rules)} rules in {directory} ({', '.join(f'{s} {n}' for s, n in stages.items())})")
    return 0


def _catalogue_of(directory: Path):
    """The catalogue of a directory's files: (the Catalogue or None, every problem found)."""
    from alertgate.correlation.catalogue import Catalogue, CatalogueInvalid
    from alertgate.correlation.files import load_directory

    entries, problems = load_directory(directory)
    if problems:
        return None, problems
    try:
        return Catalogue(entries), []
    except CatalogueInvalid as exc:
        return None, exc.problems


def _file_catalogue(settings: Settings):
    """The files' catalogue for a dry run (the API's CIs live in Redis, which a dry run leaves alone)."""
    catalogue, _ = _catalogue_of(Path(settings.config_dir) / "cmdb")
    return catalogue


def _check_rule_file(file: Path, rules_dir: Path) -> int:
    """``rules check FILE``: the rule directory as it would be with FILE in it (a file of the same
    name replaced), in a copy; nothing in the directory changes."""
    import contextlib
    import io
    import shutil
    import tempfile

    if file.suffix not in (".yaml", ".yml"):
        print(f"{file}: a rule file ends in .yaml or .yml (the gateway reads no other)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        trial = Path(scratch) / "rules"
        if rules_dir.is_dir():
            shutil.copytree(rules_dir, trial)
        else:
            trial.mkdir()
        if (rules_dir.parent / "tables.yaml").is_file():   # (what the rules are checked against)
            shutil.copy(rules_dir.parent / "tables.yaml", Path(scratch) / "tables.yaml")
        shutil.copy(file, trial / file.name)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cmd_rules_check(argparse.Namespace(directory=str(trial)))

    def real(text: str) -> str:   # the copy's paths named as the files are
        return text.replace(str(trial / file.name), str(file)).replace(str(trial), str(rules_dir))
    print(real(out.getvalue()), end="")
    print(real(err.getvalue()), end="", file=sys.stderr)
    print(f"(checked {file} with the rules in {rules_dir})", file=sys.stderr if code else sys.stdout)
    return code


def cmd_cmdb_check(args: argparse.Namespace) -> int:
    """Validate the CI catalogue's files; exit 1 listing every problem with file and line."""
    directory = Path(args.directory) if args.directory else Path(_settings().config_dir) / "cmdb"
    catalogue, problems = _catalogue_of(directory)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} problem(s); nothing was loaded", file=sys.stderr)
        return 1
    print(f"ok: {len(catalogue)} CIs in {directory}")
    return 0


def cmd_rules_test(args: argparse.Namespace) -> int:
    """Run one payload through every stage and print what matched; creates nothing."""
    import msgspec

    from alertgate.intake.explain import explain
    from alertgate.intake.sources.common import PayloadError
    from alertgate.rules.schema import RulesInvalid
    from alertgate.rules.service import RulesService

    settings = _settings()
    configure_logging("warning")
    body = Path(args.payload).read_bytes()
    source = args.source or _guess_source(body)
    service = RulesService(Path(settings.config_dir), settings.dedup_window)
    errors = service.reload()
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        return 1
    try:
        verdicts = explain(body, source, service.engine, settings, _file_catalogue(settings))
    except PayloadError as exc:
        print(f"{exc.error}: " + "; ".join(f"{d.path}: {d.message}" for d in exc.detail), file=sys.stderr)
        return 1
    except RulesInvalid:
        return 1
    print(msgspec.json.format(msgspec.json.encode({"source": source, "results": verdicts}), indent=2).decode())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """The monthly KPI report from the stored tickets, as JSON or CSV on stdout."""
    import asyncio
    import csv

    import msgspec

    from alertgate.dedup import layout
    from alertgate.kpi.report import kpi_report
    from alertgate.kpi.compute import rows
    from alertgate.moments import parse_moment
    from alertgate.runtime.connections import connect_state

    settings = _settings()
    configure_logging("warning")
    settings = _with_running_redis(settings)
    start, end = parse_moment(args.start), parse_moment(args.end)
    if end <= start:
        raise ValueError("--to must be after --from")

    async def build():
        redis = connect_state(settings, fail_fast=False)
        try:
            await layout.ensure(redis)
            return await kpi_report(redis, start, end, args.by)
        finally:
            await redis.aclose()

    result = asyncio.run(build())
    if args.format == "json":
        print(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=["scope", "key", "indicator", "value", "ratio"])
        writer.writeheader()
        writer.writerows(rows(result))
    return 0


def cmd_migrate_shards(args: argparse.Namespace) -> int:
    """Move a Redis of the first key layout to the balanced one (keys.py): stop alertgate first."""
    from alertgate.dedup import layout
    from alertgate.runtime.connections import connect_state_sync

    settings = _settings()
    if not args.yes:
        print("alertgate: stop every gateway and worker first, then run this again with --yes", file=sys.stderr)
        return 2
    if not settings.redis_url:
        raise CliError("ALERTGATE_REDIS_URL is not set")
    state = connect_state_sync(settings)
    if layout.ensure_sync(state) == 2:
        print("the keys already use the balanced layout; nothing to do")
        return 0
    print(f"moved {layout.migrate_to_balanced(state)} keys to the balanced layout")
    return 0


def _with_running_redis(settings: Settings) -> Settings:
    """The configured Redis, else the embedded one of the `alertgate run` holding the data dir."""
    import msgspec

    from alertgate.runtime.instance import read_running

    if settings.redis_url:
        return settings
    running = read_running(Path(settings.data_dir))
    if running is None:
        raise CliError(f"ALERTGATE_REDIS_URL is not set and no `alertgate run` is running on the data directory "
                       f"{Path(settings.data_dir).resolve()}")
    return msgspec.structs.replace(settings, redis_url=running.redis_url)


class CliError(Exception):
    """A mistake of the command line: one line on stderr, exit 2."""


def _guess_source(body: bytes) -> str:
    """The first registered source whose shape the body has (findings, the most general, last)."""
    import msgspec

    from alertgate.intake.sources import REGISTRY
    from alertgate.intake.sources.common import without_bom

    try:
        data = msgspec.json.decode(without_bom(body))
    except msgspec.DecodeError:
        return next(iter(REGISTRY))
    return next((name for name, source in REGISTRY.items() if source.recognises(data)), next(iter(REGISTRY)))


def build_parser() -> argparse.ArgumentParser:
    from alertgate.intake.sources import NAMES
    parser = argparse.ArgumentParser(prog="alertgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="embedded Redis (unless configured) + gateway + worker").set_defaults(func=cmd_run)
    serve = sub.add_parser("serve", help="the HTTP gateway only")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("worker", help="an RQ worker with its scheduler").set_defaults(func=cmd_worker)
    rules = sub.add_parser("rules", help="check or try the rule files").add_subparsers(dest="rules", required=True)
    check = rules.add_parser("check", help="validate the rule files (exit 1 on any error)")
    check.add_argument("directory", nargs="?", help="default: $ALERTGATE_CONFIG_DIR/rules; a file: checked with "
                                                    "the rules it will join")
    check.set_defaults(func=cmd_rules_check)
    cmdb = sub.add_parser("cmdb", help="check the CI catalogue's files").add_subparsers(dest="cmdb", required=True)
    cmdb_check = cmdb.add_parser("check", help="validate config/cmdb (exit 1 on any problem)")
    cmdb_check.add_argument("directory", nargs="?", help="default: $ALERTGATE_CONFIG_DIR/cmdb")
    cmdb_check.set_defaults(func=cmd_cmdb_check)
    trial = rules.add_parser("test", help="run one payload through every stage")
    trial.add_argument("payload", help="a JSON file, as the source sends it")
    trial.add_argument("--source", choices=NAMES, help="default: guessed")
    trial.set_defaults(func=cmd_rules_test)
    report = sub.add_parser("report", help="the KPI report for a period")
    report.add_argument("--from", dest="start", required=True, help="e.g. 2026-11-01 or 2026-11-01T08:00:00+08:00")
    report.add_argument("--to", dest="end", required=True, help="e.g. 2026-12-01 (exclusive)")
    report.add_argument("--format", choices=["json", "csv"], default="json")
    report.add_argument("--by", choices=["ci", "group", "staff", "requester"],
                        help="the indicators per CI, group or requester as well; staff: KPIs 13, 14, 16, 17 per person")
    report.set_defaults(func=cmd_report)
    token = sub.add_parser("token", help="make a new credential")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--name", required=True)
    token.add_argument("--write", action="store_true", help="add the entry to tokens: in alertgate.yaml")
    token.set_defaults(func=cmd_token)
    migrate = sub.add_parser("migrate-shards", help="move stored keys to the layout that spreads a Cluster evenly")
    migrate.add_argument("--yes", action="store_true", help="every gateway and worker is stopped")
    migrate.set_defaults(func=cmd_migrate_shards)
    init = sub.add_parser("init", help="write the shipped settings, rules and integration files to edit")
    init.add_argument("directory", help="e.g. ./config (files already there are kept)")
    init.set_defaults(func=cmd_init)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CliError, ValueError, OSError) as exc:  # the user's mistake, not a bug: one line
        print(f"alertgate: {exc}", file=sys.stderr)
        return 2
