import base64

import pytest

from alertgate.credentials import INGEST, Authenticator, Forbidden, Unauthenticated
from alertgate.settings import Role, parse_bootstrap_tokens

auth = Authenticator(parse_bootstrap_tokens("source:src,viewer:view"))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_bearer_and_basic_find_the_same_principal():
    assert auth.authenticate("Bearer src").role is Role.SOURCE
    assert auth.authenticate("bearer   src ").role is Role.SOURCE
    assert auth.authenticate(basic("alertmanager", "src")).role is Role.SOURCE
    assert auth.authenticate(basic("any-user-name", "src")).role is Role.SOURCE


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer nope", "Token src", basic("src", ""),
                                    "Basic !!!notbase64", basic("u", "SRC")])
def test_missing_or_wrong_credentials_are_unauthenticated(header):
    with pytest.raises(Unauthenticated):
        auth.authenticate(header)


def test_wrong_role_is_forbidden():
    with pytest.raises(Forbidden):
        auth.authorize("Bearer view", INGEST)
    assert auth.authorize("Bearer src", INGEST).role is Role.SOURCE


def test_errors_never_carry_the_secret():
    with pytest.raises(Unauthenticated) as info:
        auth.authenticate("Bearer very-secret-value")
    assert "very-secret-value" not in str(info.value)


def test_basic_password_is_utf8():
    utf8 = Authenticator(parse_bootstrap_tokens("source:pässwörd"))
    assert utf8.authenticate(basic("zabbix", "pässwörd")).role is Role.SOURCE
