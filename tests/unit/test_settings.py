from datetime import timedelta
from pathlib import Path

import pytest

from alertgate.durations import parse_duration
from alertgate.settings import Role, SettingsError, load_settings


@pytest.mark.parametrize("text,expected", [
    ("30m", timedelta(minutes=30)), ("45s", timedelta(seconds=45)), ("1h30m", timedelta(minutes=90)),
    ("30d", timedelta(days=30)), ("2w", timedelta(weeks=2)), ("500ms", timedelta(milliseconds=500)),
    ("90", timedelta(seconds=90)), (1.5, timedelta(seconds=1.5)), ("36525d", timedelta(days=36_525)),
])
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "5x", "m5", "-5s", "0s", "1h 30m",
                                  "99999999999d", "9" * 400, "9" * 400 + "w", "36526d", float("nan"), float("inf")])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_defaults_without_config_file(tmp_path: Path):
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(tmp_path)})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.dedup_window == 1800 and settings.recurrence_lookback == 30 * 86400
    assert settings.redis_url is None and settings.queue_url is None
    assert settings.body_limit == 5 * 1024 * 1024


def test_environment_overrides_the_file(tmp_path: Path):
    (tmp_path / "alertgate.yaml").write_text("port: 9000\ndedup_window: 45m\n")
    env = {"ALERTGATE_CONFIG_DIR": str(tmp_path), "ALERTGATE_DEDUP_WINDOW": "45s",
           "ALERTGATE_REDIS_URL": "redis://r:6379/0", "ALERTGATE_QUEUE_REDIS_URL": ""}
    settings = load_settings(env)
    assert settings.port == 9000
    assert settings.dedup_window == 45
    assert settings.queue_url == "redis://r:6379/0"  # queue Redis defaults to the state Redis


def test_bootstrap_tokens_add_hashed_tokens(tmp_path: Path):
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(tmp_path),
                              "ALERTGATE_BOOTSTRAP_TOKENS": "source:abc, admin:x:y"})
    tokens = settings.all_tokens()
    assert [t.role for t in tokens] == [Role.SOURCE, Role.ADMIN]
    assert all("abc" not in t.secret_sha256 for t in tokens)


@pytest.mark.parametrize("env,file,named", [
    ({"ALERTGATE_PORT": "eighty"}, "", "bad setting port (environment variable ALERTGATE_PORT)"),
    ({"ALERTGATE_DEDUP_WINDOW": "soon"}, "", "bad setting dedup_window"),
    ({"ALERTGATE_BOOTSTRAP_TOKENS": "root:x"}, "", "bad setting bootstrap_tokens"),
    ({}, "port: 70000\n", "bad setting port ("),
    ({}, "colour: blue\n", "unknown setting 'colour'"),
    ({}, "tokens: [{name: a, role: source, secret_sha256: plain}]\n", "bad setting tokens"),
    ({}, "port: [1\n", "not valid YAML"),
    ({}, "notify: {email: {sender: 告警@例子.中国}}\n", "bad setting notify.email.sender ("),
    ({}, "notify: {email: {sender: alertgate}}\n", "holds no ASCII address"),
])
def test_bad_settings_name_the_setting(tmp_path: Path, env, file, named):
    if file:
        (tmp_path / "alertgate.yaml").write_text(file)
    with pytest.raises(SettingsError) as info:
        load_settings({"ALERTGATE_CONFIG_DIR": str(tmp_path), **env})
    assert named in str(info.value)


@pytest.mark.parametrize("sender", ["alertgate@example.com", "Alertgate <alertgate@example.com>",
                                    "告警 <alertgate@example.com>"])
def test_an_email_sender_with_an_ascii_address_and_any_display_name_loads(tmp_path: Path, sender):
    (tmp_path / "alertgate.yaml").write_text(f"notify: {{email: {{sender: '{sender}'}}}}\n")
    assert load_settings({"ALERTGATE_CONFIG_DIR": str(tmp_path)}).notify.email.sender == sender


def test_shipped_config_loads():
    root = Path(__file__).resolve().parents[2]
    settings = load_settings({"ALERTGATE_CONFIG_DIR": str(root / "config")})
    assert settings.dedup_window == 1800
