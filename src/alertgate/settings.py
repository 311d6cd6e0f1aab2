"""Settings: one msgspec Struct, read once at start from ``alertgate.yaml`` and the environment.

Precedence: built-in defaults < ``$ALERTGATE_CONFIG_DIR/alertgate.yaml`` < ``ALERTGATE_*`` variables.
A bad value stops the start with a message that names the setting and where it came from.
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
from typing import Annotated, Any

import msgspec
import yaml

from alertgate.durations import parse_duration
from alertgate.text_files import Unreadable, load_unique, read_text

ENV_PREFIX = "ALERTGATE_"
DEFAULT_CI_LABELS = (
    "ci",
    "configuration_item",
    "host",
    "hostname",
    "instance",
    "nodename",
    "pod",
    "service",
    "job",
)


class SettingsError(Exception):
    """A setting that cannot be used; the message names it."""


class Seconds(float):
    """A duration in seconds, written in config as ``30m``, ``45s``, ``1h30m`` or a number."""


class Delay(float):
    """Seconds that may be none: ``0`` or ``0s`` turns the wait off."""


class Role(str, enum.Enum):
    SOURCE = "source"
    SERVICE_DESK = "service_desk"
    ENGINEER = "engineer"
    INCIDENT_MANAGER = "incident_manager"
    DUTY_LEAD = "duty_lead"            # the duty team lead: verifies closed records (handbook §3.1.3.10)
    VIEWER = "viewer"
    ADMIN = "admin"


class TokenConfig(msgspec.Struct, forbid_unknown_fields=True):
    """A credential: the SHA-256 of its secret, never the secret itself."""

    name: str
    role: Role
    secret_sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class Endpoint(msgspec.Struct, forbid_unknown_fields=True):
    """An HTTP receiver of notices (the webhook channel, or a voice gateway for phone)."""

    url: str
    secret: str | None = None          # signs the body: X-Alertgate-Signature: sha256=<hmac>
    timeout: Seconds = Seconds(5.0)


class Smtp(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "alertgate@localhost"   # (its address is SMTP's MAIL FROM: ASCII, checked at load)
    timeout: Seconds = Seconds(10.0)


class Contact(msgspec.Struct, forbid_unknown_fields=True):
    email: list[str] = []
    phone: list[str] = []


class Notify(msgspec.Struct, forbid_unknown_fields=True):
    """Where notices go. ``contacts`` maps an assignment group or a stakeholder role to people."""

    service_desk: str = "the service desk"      # how to reach it, quoted in every notice
    contacts: dict[str, Contact] = {}
    webhook: Endpoint | None = None
    phone: Endpoint | None = None
    email: Smtp | None = None
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 5
    # A warning to the ticket's group when this share of an SLA target's time has passed (0: none).
    warn_at: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.8
    # A recovery the monitoring reported is announced once it has held this long; a master that
    # fires again sooner (it flaps) tells nobody of either (workers/flapping.py; 0: at once).
    restoration_hold: Delay = Delay(300.0)


class RateLimit(msgspec.Struct, forbid_unknown_fields=True):
    rate: Annotated[float, msgspec.Meta(gt=0)]      # requests per second, sustained
    burst: Annotated[int, msgspec.Meta(ge=1)]       # requests at once


class ExpectedHeartbeat(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A heartbeat expected from the start (SPEC §9); the fields as a ping's body has them."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.:@\-]{1,200}$")]
    timeout: str | float | None = None   # a duration (15m) or seconds
    schedule: str | None = None
    timezone: str | None = None
    ci: str | None = None
    severity: str | None = None
    tags: dict[str, str] | None = None


class Heartbeats(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    auto_register: bool = True                 # an unknown name's first ping registers it
    # ... while fewer heartbeats than this exist (a sender that pings a new name each time must
    # not make a ticket per name); ``expected`` ones are always registered
    auto_register_limit: Annotated[int, msgspec.Meta(ge=1)] = 1000
    default_timeout: Seconds = Seconds(600.0)  # for one registered without a timeout
    # a ping this much before a scheduled time (and nearer to it than to the one before) counts for it
    early_tolerance: Delay = Delay(60.0)   # (0: none)
    expected: list[ExpectedHeartbeat] = []


class AlertmanagerApi(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One Alertmanager to ask; an HA pair is one, with both URLs (each must answer)."""

    urls: Annotated[list[str], msgspec.Meta(min_length=1)]
    name: str = "alertmanager"
    bearer_token_file: str | None = None


class ZabbixApi(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One Zabbix server's API (``.../api_jsonrpc.php``) and an API token (Zabbix ≥ 5.4)."""

    url: str
    token: str | None = None
    token_file: str | None = None
    name: str = "zabbix"


class Reconcile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Asking the sources whether an unresolved master's alert still exists (SPEC §9)."""

    interval: Seconds = Seconds(300.0)
    timeout: Seconds = Seconds(10.0)
    # an Alertmanager started less than this ago resolves nothing: it keeps its alerts in memory,
    # and they come back only as Prometheus sends them again
    restart_grace: Delay = Delay(300.0)   # (0: none)
    alertmanager: list[AlertmanagerApi] = []
    zabbix: list[ZabbixApi] = []


class Maintenance(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    max_duration: Seconds = Seconds(7 * 86400.0)   # of a window, or of each occurrence of a recurring one
    # push each window to the sources' APIs listed under `reconcile` (off by default)
    push_alertmanager: bool = False                # as a silence
    push_zabbix: bool = False                      # as a maintenance of the hosts its ci matchers name
    push_ahead: Seconds = Seconds(86400.0)         # an occurrence is pushed this long before it starts


class Topology(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Topology correlation over the CI catalogue's parents (SPEC §11)."""

    window: Seconds = Seconds(600.0)   # a parent's master opened at most this long before correlates
    max_depth: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3   # parents followed this far up
    # storm grouping: this many new masters of one symptom on CIs of one service within the window
    # open a major incident (a route rule may set its own: storm_masters, storm_window)
    storm_masters: Annotated[int, msgspec.Meta(ge=2, le=10_000)] = 10
    storm_window: Seconds = Seconds(300.0)


class SourceSync(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Tickets → sources (SPEC §10; off by default), on the APIs listed under ``reconcile``."""

    zabbix_acknowledge: bool = False     # accept/resolve/close of a Zabbix master acknowledges its event
    alertmanager_silence: bool = False   # a master in progress holds a silence of its alert until resolved
    silence_for: Seconds = Seconds(7 * 86400.0)   # the longest such a silence lasts


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    config_dir: str = "./config"
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    redis_url: str | None = None
    queue_redis_url: str | None = None
    redis_timeout: Seconds = Seconds(2.0)
    # redis_url names one node of a Redis Cluster (the queues then need queue_redis_url)
    redis_cluster: bool = False
    # replicas that must hold an alert's writes before it is answered 200 (Redis WAIT); 0: none
    redis_wait_replicas: Annotated[int, msgspec.Meta(ge=0)] = 0
    redis_wait_timeout: Seconds = Seconds(1.0)
    retry_after: Annotated[int, msgspec.Meta(ge=1)] = 5
    dedup_window: Seconds = Seconds(1800.0)
    recurrence_lookback: Seconds = Seconds(30 * 86400.0)
    body_limit: Annotated[int, msgspec.Meta(ge=1024)] = 5 * 1024 * 1024
    # a request's head must arrive within head_timeout of its first byte, its body within
    # body_timeout of its head; else 408 and the connection is closed
    head_timeout: Seconds = Seconds(10.0)
    body_timeout: Seconds = Seconds(30.0)
    data_dir: str = "./var"
    log_level: Annotated[str, msgspec.Meta(pattern=r"^(debug|info|warning|error)$")] = "info"
    ci_labels: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_CI_LABELS))
    symptom_labels: list[str] = msgspec.field(default_factory=list)
    # per source, whether a recovery resolves its master; a source not named here keeps its own
    # default (intake/sources: alertmanager and zabbix on, finding off)
    auto_resolve: dict[str, bool] = msgspec.field(default_factory=dict)
    tokens: list[TokenConfig] = msgspec.field(default_factory=list)
    bootstrap_tokens: str | None = None
    notify: Notify = msgspec.field(default_factory=Notify)
    # ingest requests per token name or per role; none by default (see README before setting one
    # for an Alertmanager token: it does not retry a 429)
    rate_limits: dict[str, RateLimit] = msgspec.field(default_factory=dict)
    worker_metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] | None = None
    scheduler_interval: Seconds = Seconds(1.0)
    # how often a worker's sweep looks for owed work (workers/sweeper.py)
    sweep_interval: Seconds = Seconds(30.0)
    # an intent a worker read and left unacknowledged this long (it died or hung) is taken over by
    # another worker (workers/intents.py)
    intent_claim_idle: Seconds = Seconds(30.0)
    heartbeats: Heartbeats = msgspec.field(default_factory=Heartbeats)
    # a ticket resolved this long and not closed is reminded to the service desk, then again each
    # time as long (SPEC §9; never closed automatically)
    closure_reminder: Seconds = Seconds(86400.0)
    console_poll: Seconds = Seconds(2.0)   # how often an open console's queue is checked for changes
    # the IANA zone people read and write times in: the console and the notices (the API, the rules
    # and maintenance RRULEs stay in UTC); e.g. Asia/Shanghai
    display_timezone: str = "UTC"
    reconcile: Reconcile = msgspec.field(default_factory=Reconcile)
    maintenance: Maintenance = msgspec.field(default_factory=Maintenance)
    sync: SourceSync = msgspec.field(default_factory=SourceSync)
    topology: Topology = msgspec.field(default_factory=Topology)

    @property
    def queue_url(self) -> str | None:
        return self.queue_redis_url or self.redis_url

    def all_tokens(self) -> list[TokenConfig]:
        """Configured tokens plus those from ``ALERTGATE_BOOTSTRAP_TOKENS``."""
        return self.tokens + parse_bootstrap_tokens(self.bootstrap_tokens)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_bootstrap_tokens(text: str | None) -> list[TokenConfig]:
    """``role:secret,role:secret`` → tokens named by role (``bootstrap-source``, then
    ``bootstrap-source-2`` for a second of the same role), as ticket history shows them."""
    tokens = []
    per_role: dict[Role, int] = {}
    for index, pair in enumerate(p.strip() for p in (text or "").split(",")):
        if not pair:
            continue
        role, sep, secret = pair.partition(":")
        if not sep or not secret:
            raise ValueError(f"entry {index + 1} is not role:secret")
        try:
            role_value = Role(role.strip())
        except ValueError:
            raise ValueError(
                f"entry {index + 1} has unknown role {role.strip()!r} "
                f"(one of {', '.join(r.value for r in Role)})"
            ) from None
        per_role[role_value] = per_role.get(role_value, 0) + 1
        suffix = f"-{per_role[role_value]}" if per_role[role_value] > 1 else ""
        tokens.append(TokenConfig(f"bootstrap-{role_value.value}{suffix}", role_value, hash_secret(secret)))
    return tokens


def _dec_hook(type_: type, obj: Any) -> Any:
    if type_ is Seconds:
        return Seconds(parse_duration(obj).total_seconds())
    if type_ is Delay:
        none = (not isinstance(obj, bool) and obj == 0) or (isinstance(obj, str) and obj.strip().lower() in ("0", "0s"))
        return Delay(0.0 if none else parse_duration(obj).total_seconds())
    raise TypeError(f"no conversion to {type_!r}")  # Seconds and Delay are the custom types in Settings


def _env_overrides(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Scalar fields from ``ALERTGATE_<FIELD>``: field → (variable name, raw value)."""
    scalar = {
        "config_dir", "host", "port", "redis_url", "queue_redis_url", "redis_timeout", "redis_cluster",
        "redis_wait_replicas", "redis_wait_timeout",
        "retry_after", "dedup_window", "recurrence_lookback", "body_limit", "data_dir", "head_timeout", "body_timeout",
        "log_level", "bootstrap_tokens", "worker_metrics_port", "scheduler_interval", "sweep_interval", "closure_reminder",
        "console_poll", "display_timezone", "intent_claim_idle",
    }
    found = {}
    for field in scalar:
        var = ENV_PREFIX + field.upper()
        if var in environ and environ[var] != "":
            found[field] = (var, environ[var])
    return found


PACKAGED_CONFIG = Path(__file__).parent / "defaults"


def default_config_dir() -> Path:
    """``./config`` when it holds settings or rules, else the defaults shipped in the package (an
    installed alertgate starts without a checkout; ``alertgate init DIR`` writes them out)."""
    local = Path("./config")
    if (local / "alertgate.yaml").exists() or (local / "rules").is_dir():
        return local
    return PACKAGED_CONFIG


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``alertgate.yaml`` and the environment into Settings, or raise SettingsError."""
    environ = os.environ if environ is None else environ
    env = _env_overrides(environ)
    config_dir = Path(env["config_dir"][1]) if "config_dir" in env else default_config_dir()
    config_file = config_dir / "alertgate.yaml"
    raw: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if config_file.exists():
        try:
            loaded = load_unique(read_text(config_file)) or {}
        except yaml.YAMLError as exc:
            raise SettingsError(f"{config_file}: not valid YAML: {exc}") from None
        except Unreadable as exc:
            raise SettingsError(f"{config_file}:{exc}") from None
        if not isinstance(loaded, dict):
            raise SettingsError(f"{config_file}: expected a mapping of settings")
        raw.update(loaded)
        origin.update({key: str(config_file) for key in loaded})
    for field, (var, value) in env.items():
        raw[field] = value  # strict=False below turns "8080" into 8080
        origin[field] = f"environment variable {var}"
    raw["config_dir"] = str(config_dir)
    try:
        settings = msgspec.convert(raw, Settings, dec_hook=_dec_hook, strict=False)
        settings.all_tokens()
        if settings.redis_wait_replicas and settings.redis_wait_timeout >= settings.redis_timeout:
            raise SettingsError("redis_wait_timeout must be shorter than redis_timeout: the WAIT for "
                                "replicas happens inside one Redis call")
        try:
            if settings.display_timezone.upper() != "UTC":
                ZoneInfo(settings.display_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"bad setting display_timezone ({origin.get('display_timezone', 'default')}): "
                                f"{settings.display_timezone!r} is not an IANA time zone such as Asia/Shanghai") from None
        smtp = settings.notify.email
        if smtp is not None and not _ascii_address(smtp.sender):
            raise SettingsError(f"bad setting notify.email.sender ({origin.get('notify', 'default')}): "
                                f"{smtp.sender!r} holds no ASCII address (SMTP's MAIL FROM); a display "
                                "name may be in any script: 告警 <alertgate@example.com>")
        if settings.redis_cluster and not settings.queue_redis_url:
            raise SettingsError("redis_cluster is set: the RQ queues need a standalone Redis, "
                                "set queue_redis_url (ALERTGATE_QUEUE_REDIS_URL)")
    except msgspec.ValidationError as exc:
        raise SettingsError(_describe(str(exc), origin, config_file)) from None
    except ValueError as exc:
        raise SettingsError(
            f"bad setting bootstrap_tokens ({origin.get('bootstrap_tokens', 'environment')}): {exc}"
        ) from None
    return settings


def _ascii_address(sender: str) -> bool:
    address = parseaddr(sender)[1]
    return "@" in address and address.isascii()


def _describe(message: str, origin: Mapping[str, str], config_file: Path) -> str:
    match = re.search(r"at `\$\.([A-Za-z_.]+)", message)   # (a nested one: notify.email.sender)
    path = match.group(1) if match else None
    field = path.split(".")[0] if path else None
    if field is None:
        unknown = re.search(r"unknown field `([^`]+)`", message)
        if unknown:
            return f"unknown setting {unknown.group(1)!r} in {config_file}"
        return f"bad settings in {config_file}: {message}"
    reason = message.split(" - at ")[0]
    return f"bad setting {path} ({origin.get(field, 'default')}): {reason}"
