"""A window in the sources' terms (pure): Alertmanager silence matchers, Zabbix host names. What
cannot be said there is an error the window shows, never a matcher dropped in silence."""

from __future__ import annotations

import re

from alertgate.maintenance.model import Matcher


class NotExpressible(ValueError):
    pass


def silence_matchers(matchers: list[Matcher]) -> list[dict]:
    """Label matchers only (Alertmanager knows labels, not alertgate's CI or service): ``eq`` is
    an equality, ``re`` a regex (Alertmanager's are RE2 and anchored too), ``in`` an alternation."""
    if not matchers:
        raise NotExpressible("a window of all alerts has no matcher Alertmanager accepts (one must not match empty)")
    found = []
    for matcher in matchers:
        if not matcher.field.startswith("label."):
            raise NotExpressible(f"matcher on {matcher.field!r}: Alertmanager silences match labels only "
                                 "(use label.<name>)")
        name = matcher.field[6:]
        if matcher.op == "eq":
            found.append({"name": name, "value": matcher.value, "isRegex": False, "isEqual": True})
        elif matcher.op == "re":
            found.append({"name": name, "value": matcher.value, "isRegex": True, "isEqual": True})
        else:
            found.append({"name": name, "value": "|".join(re.escape(v) for v in matcher.value),
                          "isRegex": True, "isEqual": True})
    return found


def zabbix_hosts(matchers: list[Matcher]) -> list[str]:
    """The host names a window's ``ci`` matchers name (eq, in): a Zabbix maintenance is by host."""
    hosts: list[str] = []
    for matcher in matchers:
        if matcher.field != "ci" or matcher.op == "re":
            raise NotExpressible(f"matcher {matcher.field} {matcher.op}: a Zabbix maintenance names hosts; "
                                 "use ci eq or ci in")
        hosts += [matcher.value] if isinstance(matcher.value, str) else list(matcher.value)
    if not hosts:
        raise NotExpressible("a window of all alerts names no host")
    return hosts
