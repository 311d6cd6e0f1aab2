"""The e-mail channel's message, written by hand (``workers/channels/email.message_bytes``): what
a mail client parses from it is the notice, in any language and at any length, on lines SMTP takes."""

from __future__ import annotations

from email import message_from_bytes, policy
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from alertgate.workers.channels.email import message_bytes

TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=600)


def parsed(subject: str, body: str, key: str = "INC-AB-1:incident:network:dispatch0"):
    notice = SimpleNamespace(subject=subject, body=body, dedup_key=key)
    raw = message_bytes(notice, "netops@example.com", "alertgate@example.com")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n")), "a line longer than SMTP allows"
    return message_from_bytes(raw, policy=policy.default)


def test_a_chinese_subject_and_body_arrive_as_written():
    message = parsed("[P1] 事件 INC-AB-1: 核心交换机 core-sw-1 端口中断", "影响范围：全部门店\n预计恢复：30 分钟内\n")
    assert message["Subject"] == "[P1] 事件 INC-AB-1: 核心交换机 core-sw-1 端口中断"
    assert message.get_content().replace("\r\n", "\n") == "影响范围：全部门店\n预计恢复：30 分钟内\n"   # (CRLF on the wire)
    assert message["To"] == "netops@example.com" and message["From"] == "alertgate@example.com"
    assert message["X-Alertgate-Dedup-Key"] == "INC-AB-1:incident:network:dispatch0"
    assert message["Message-ID"].endswith("@alertgate>") and message["Date"]
    assert message.get_content_type() == "text/plain"


def test_a_long_body_goes_on_crlf_lines_with_no_bare_lf():
    """Python's ``Charset.body_encode`` ended quoted-printable lines in a bare LF, which smtplib
    sent as it was: one 'line' of the whole body to SMTP, and refused by servers that guard
    against SMTP smuggling (found by the round-trip test with a body over 998 bytes)."""
    raw = message_bytes(SimpleNamespace(subject="s", body="段落\n" * 400 + "x" * 3000, dedup_key="k"), "a@example.com", "b@example.com")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_a_4_kib_title_is_folded_onto_lines_smtp_takes():
    title = "x" * 4096
    message = parsed(f"[P3] Incident INC-AB-1: {title}", "body")
    assert message["Subject"].replace(" ", "") == f"[P3]IncidentINC-AB-1:{title}"


@settings(max_examples=200, deadline=None)
@given(TEXT, TEXT)
def test_any_subject_and_body_round_trip(subject: str, body: str):
    subject = " ".join(subject.split())   # (a header is one line: whitespace runs fold to one space)
    message = parsed(subject, body)
    assert message["Subject"] == subject
    assert message.get_content().replace("\r\n", "\n").replace("\r", "\n") == body.replace("\r\n", "\n").replace("\r", "\n")


def test_an_address_outside_ascii_stands_in_the_to_header_as_written():
    raw = message_bytes(SimpleNamespace(subject="s", body="b", dedup_key="k"), "张三@xn--fsqu00a.xn--fiqs8s", "ag@example.com")
    assert message_from_bytes(raw, policy=policy.SMTPUTF8)["To"] == "张三@xn--fsqu00a.xn--fiqs8s"


def test_a_sender_s_display_name_in_any_script_is_encoded_apart_from_its_address():
    raw = message_bytes(SimpleNamespace(subject="s", body="b", dedup_key="k"), "ops@example.com", "告警 <ag@example.com>")
    sender = message_from_bytes(raw, policy=policy.default)["From"]
    assert sender.addresses[0].display_name == "告警" and sender.addresses[0].addr_spec == "ag@example.com"
