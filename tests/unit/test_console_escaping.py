"""Alert text in the console is text (SPEC §12): labels, annotations, titles, descriptions, CIs
and timeline notes come from senders and are hostile input. Whatever a sender writes — generated
here by Hypothesis, plus the classic attacks — the rendered ticket page and queue rows have no
element, attribute or event handler that the same page with plain text does not have."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from alertgate.console import i18n
from alertgate.console.render import Renderer
from alertgate.tickets.timeline import parts as timeline_shown
from alertgate.tickets import queue
from alertgate.tickets.model import SlaEntry, SlaTarget, Ticket, TimelineEntry

NOW = datetime(2026, 12, 5, 5, 0, tzinfo=UTC)
RENDERER = Renderer()
ATTACKS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "'><svg/onload=alert(1)>",
           "</textarea><iframe src=javascript:alert(1)>", "{{ 7*7 }}{% raw %}", "<!--", "]]><x>", "&lt;b&gt;",
           "<a href='javascript:alert(1)'>x</a>", "\u202e\u0000\ufeff", "<style>*{}</style>"]


class Shape(HTMLParser):
    """The elements and attribute names of a page (what markup it has, whatever its text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.found.add(tag)
        self.found |= {f"{tag}@{name}" for name, _ in attrs}

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)


def shape(html: str) -> set[str]:
    parser = Shape()
    parser.feed(html)
    return parser.found


def ticket(text: str) -> Ticket:
    return Ticket(id="INC-ABCDEFGHJKMNP-1", ci=text or "x", title=text, description=text, affected_service=text,
                  assignee=text, contact=text, labels={"alertname": text, text[:50] or "k": text},
                  links={"generator": text}, symptom=text, created_at=NOW, updated_at=NOW, suggested_masters=[text],
                  sla=[SlaEntry(target=SlaTarget.ASSIGNMENT, due_at=NOW + timedelta(minutes=5), minutes=15)],
                  timeline=[TimelineEntry(at=NOW, actor=text or "a", action="comment", note=text)])


def pages(text: str) -> str:
    t = ticket(text)
    base = {"_": i18n.gettext("en"), "lang": "en", "languages": i18n.LANGUAGES, "session": None, "role": "viewer",
            "csrf": "c", "nav": [], "path": "/console", "here": "/console", "now": NOW}
    ticket_page = RENDERER.env.get_template("ticket.html").render(
        base, ticket=t, actions=[], choices={}, duplicates=[text], duplicates_earlier=1, recurrences=[], correlated=[text], members=[text], clocks=[(t.sla[0], "ok")],
        timeline=timeline_shown(t),
        reports=[text], may_link=True,
        done=None, error=text)
    rows = RENDERER.env.get_template("_queue_rows.html").render(
        base, tickets=[(t, queue.next_due(t), "ok")], more=0)
    return ticket_page + rows


PLAIN = shape(pages("plain text"))


def test_the_classic_attacks_stay_text():
    for attack in ATTACKS:
        html = pages(attack)
        assert shape(html) <= PLAIN, attack
        assert "<script>alert" not in html and "<img" not in html and "<svg" not in html


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
       | st.lists(st.sampled_from(["<", ">", '"', "'", "&", "/", "=", "script", "img", " on", "x", "{{", "}}"]),
                  max_size=20).map("".join))
def test_any_sender_text_stays_text(text):
    assert shape(pages(text)) <= PLAIN
