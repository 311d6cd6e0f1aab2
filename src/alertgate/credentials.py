"""Credentials (SPEC §7): Bearer or HTTP basic (the password is the secret), roles per endpoint;
the gateway and the console (its sign-in) check them here.

Only SHA-256 digests of secrets are held; a presented secret is hashed and compared in constant
time against every configured digest, so timing tells nothing about which one nearly matched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Iterable

from alertgate.settings import Role, TokenConfig

INGEST = frozenset({Role.SOURCE, Role.ADMIN})
ANY_ROLE = frozenset(Role)
# Who may read tickets, problems, KPIs and the API document: everyone but a sender, so that a
# stolen Zabbix or Alertmanager token cannot read the ticket base (SPEC §7).
READERS = ANY_ROLE - {Role.SOURCE}


class Unauthenticated(Exception):
    """No usable credential (HTTP 401)."""


class Forbidden(Exception):
    """A valid credential whose role may not do this (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role


class Authenticator:
    def __init__(self, tokens: Iterable[TokenConfig]) -> None:
        self._tokens = [(bytes.fromhex(t.secret_sha256), Principal(t.name, t.role)) for t in tokens]

    def authenticate(self, authorization: str | None) -> Principal:
        secret = _secret_from_header(authorization)
        digest = hashlib.sha256(secret.encode()).digest()
        found = None
        for expected, principal in self._tokens:
            if hmac.compare_digest(digest, expected) and found is None:
                found = principal
        if found is None:
            raise Unauthenticated("unknown credential")
        return found

    def by_digest(self, digest: bytes) -> Principal | None:
        """The principal whose secret has this SHA-256 digest, if it is still configured (a
        console session checks that its token was not withdrawn)."""
        found = None
        for expected, principal in self._tokens:
            if hmac.compare_digest(digest, expected) and found is None:
                found = principal
        return found

    def name_of(self, authorization: str | None) -> str | None:
        """The credential's configured name, or None; never raises (for logs of refusals)."""
        try:
            return self.authenticate(authorization).name
        except Unauthenticated:
            return None

    def authorize(self, authorization: str | None, allowed: frozenset[Role]) -> Principal:
        principal = self.authenticate(authorization)
        if principal.role not in allowed:
            raise Forbidden(f"role {principal.role.value} may not do this")
        return principal


def _secret_from_header(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("credential required (Authorization: Bearer or Basic)")
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed basic credential") from None
        _, sep, password = decoded.partition(":")
        if sep and password:
            return password
        raise Unauthenticated("basic credential without a password")
    raise Unauthenticated("credential required (Authorization: Bearer or Basic)")
