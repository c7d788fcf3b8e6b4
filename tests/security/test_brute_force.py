"""Issue 6 item 8: brute force. Sign-in locks an email and an address after a configurable
number of failures; invalid API tokens from one address are throttled with 429 and
``Retry-After``; re-entering the password to reveal a value shares the sign-in counters. Each is
tested at the limit, one over, and after the window, by moving the limiter's clock (never by
sleeping). tests/ui/test_signin.py and tests/apitokens/test_bearer.py hold the first, simpler
versions of these stories."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.test import Client, override_settings

from accounts import ratelimit as signin_limits
from accounts.models import Account, User
from apitokens import middleware, services
from apitokens.models import ApiToken
from apitokens.secrets import generate_value
from audit.models import AuditRecord
from audit.types import Actor
from tests.factories import TokenFactory
from tests.security.conftest import TOKENS_URL, bearer
from tests.ui.conftest import SecureClient, sign_in
from tokens_admin import ratelimit

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
WINDOW = 900
SIGNED_IN = "platform.accounts.user.signed_in"
SIGN_IN_FAILED = "platform.accounts.user.sign_in_failed"


@pytest.fixture
def clock() -> Iterator[Any]:
    """The limiters' wall clock, 100 s into a window of its own (a random far-future one, so
    counters of other tests and earlier runs in a shared Redis are never in it)."""
    start = (10**6 + secrets.randbelow(10**6)) * 3600 + 100
    with mock.patch.object(ratelimit, "clock", return_value=float(start)) as fake:
        yield fake


def move(clock: Any, seconds: float) -> None:
    clock.return_value += seconds


@pytest.fixture
def limits() -> Iterator[None]:
    """Sign-in limiters rebuilt from the (overridden) settings, and again afterwards."""
    signin_limits.reset_for_tests()
    yield
    signin_limits.reset_for_tests()


def attempt(email: str, password: str, ip: str) -> Any:
    return SecureClient(REMOTE_ADDR=ip).post("/signin/", {"email": email, "password": password})


def addresses(count: int) -> list[str]:
    base = secrets.randbelow(2**16)
    return [f"198.19.{(base + n) // 256 % 256}.{(base + n) % 256}" for n in range(count)]


def events(key: str) -> int:
    return AuditRecord.objects.filter(event_key=key).count()


@override_settings(
    SIGNIN_FAILURE_LIMIT_EMAIL=3, SIGNIN_FAILURE_LIMIT_IP=1000, SIGNIN_FAILURE_WINDOW=WINDOW
)
def test_sign_in_locks_an_email_at_its_limit_from_any_address_until_the_window_ends(
    alice: User, limits: None, clock: Any
) -> None:
    ips = iter(addresses(10))  # a different address every time: the email's own count decides
    # Two failures: still below the limit, the right password works.
    assert attempt(alice.email, "guess 1", next(ips)).status_code == 400
    assert attempt(alice.email, "guess 2", next(ips)).status_code == 400
    assert attempt(alice.email, PASSWORD, next(ips)).status_code == 302
    # Exactly at the limit: the third failure is still answered (and recorded) as one.
    assert attempt(alice.email, "guess 3", next(ips)).status_code == 400
    assert (events(SIGN_IN_FAILED), events(SIGNED_IN)) == (3, 1)
    # One over: refused before the password is even checked, the right one included.
    move(clock, 50)
    locked = attempt(alice.email, PASSWORD, next(ips))
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(WINDOW - 150)
    assert "Too many failed sign-in attempts. Try again in 12 minutes." in locked.content.decode()
    assert "sessionid" not in locked.cookies
    assert attempt(alice.email.upper(), "guess 4", next(ips)).status_code == 429  # same email
    # Nothing signed in, and no password oracle: refused attempts are not even recorded.
    assert (events(SIGN_IN_FAILED), events(SIGNED_IN)) == (3, 1)
    # After the window: free again.
    move(clock, WINDOW - 150)
    assert attempt(alice.email, PASSWORD, next(ips)).status_code == 302
    assert events(SIGNED_IN) == 2


@override_settings(
    SIGNIN_FAILURE_LIMIT_EMAIL=1000, SIGNIN_FAILURE_LIMIT_IP=3, SIGNIN_FAILURE_WINDOW=WINDOW
)
def test_sign_in_locks_an_address_at_its_limit_whatever_the_email(
    alice: User, bob: User, limits: None, clock: Any
) -> None:
    attacker, neighbour = addresses(2)
    # Spraying one password over many accounts from one address.
    for email in ("nobody@acme.test", alice.email):
        assert attempt(email, "Summer2026!", attacker).status_code == 400
    assert attempt(bob.email, PASSWORD, attacker).status_code == 302  # below the limit
    assert attempt("else@acme.test", "Summer2026!", attacker).status_code == 400  # at it
    locked = attempt(bob.email, PASSWORD, attacker)  # one over
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(WINDOW - 100)
    assert attempt(bob.email, PASSWORD, neighbour).status_code == 302  # another address
    move(clock, WINDOW)
    assert attempt(bob.email, PASSWORD, attacker).status_code == 302  # after the window
    assert events(SIGNED_IN) == 3


def invalid_credentials(token: ApiToken, deleted: ApiToken) -> list[str]:
    """Every kind of invalid token the limiter counts (all answer the same 401)."""
    value: str = token.plain_value  # type: ignore[attr-defined]
    return [
        generate_value("TKN-0000-0001"),  # well-formed, unknown id
        value[:-12] + generate_value(token.public_id)[-12:],  # right id, wrong secret
        value[:-1] + ("A" if value[-1] != "A" else "B"),  # bad checksum
        deleted.plain_value,  # type: ignore[attr-defined]
        "idt:TKN-1234-5678:" + "a" * 64,  # the right shape, a checksum that cannot match
    ]


def test_invalid_api_tokens_from_one_address_are_throttled_at_the_limit_until_the_window_ends(
    client: Client, acme: Account, robot: ApiToken, fresh_ip: str, clock: Any
) -> None:
    deleted = TokenFactory(account=acme, deleted=True)
    bad = invalid_credentials(robot, deleted)
    limit, window = len(bad), 60
    records = AuditRecord.objects.count()
    clock.return_value = float(int(clock.return_value) // window * window + 10)

    def call(value: str, ip: str = fresh_ip) -> Any:
        return client.get(
            TOKENS_URL, secure=True, REMOTE_ADDR=ip, HTTP_AUTHORIZATION=f"Bearer {value}"
        )

    with (
        mock.patch.object(middleware.auth_failures, "limit", limit),
        mock.patch.object(middleware.auth_failures, "window_seconds", window),
    ):
        below = [call(value).status_code for value in bad[:-1]]
        still = call(robot.plain_value)  # type: ignore[attr-defined]
        at_limit = call(bad[-1])
        move(clock, 20)
        over = call(robot.plain_value)  # type: ignore[attr-defined]
        over_bad = call(bad[0])
        elsewhere = call(robot.plain_value, ip="203.0.113.77")  # type: ignore[attr-defined]
        move(clock, window - 30)
        after = call(robot.plain_value)  # type: ignore[attr-defined]
        after_bad = call(bad[0])
    assert below == [401] * (limit - 1)
    assert still.status_code == 200  # successes are not counted
    assert at_limit.status_code == 401
    assert at_limit["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
    # One over: even a valid token waits for the window, with Retry-After to the second.
    assert over.status_code == 429
    assert over["Content-Type"] == "application/problem+json"
    assert over["Retry-After"] == str(window - 30)
    assert over.json()["title"] == "Too Many Requests"
    assert over_bad.status_code == 429
    assert elsewhere.status_code == 200
    assert (after.status_code, after_bad.status_code) == (200, 401)
    # Failed authentications write nothing (an attacker cannot fill the audit trail); the
    # valid token's first served use from each of its two addresses is recorded (issue 17).
    new_addresses = AuditRecord.objects.filter(event_key__endswith=".used_from_new_ip")
    assert sorted(r.documents["ip"] for r in new_addresses) == sorted([fresh_ip, "203.0.113.77"])
    assert AuditRecord.objects.count() == records + 2


@override_settings(SIGNIN_FAILURE_LIMIT_EMAIL=3, SIGNIN_FAILURE_WINDOW=WINDOW)
def test_re_entering_the_password_to_reveal_is_limited_with_the_sign_in_counters(
    alice: User, robot: ApiToken, limits: None, clock: Any, fresh_ip: str
) -> None:
    browser = sign_in(SecureClient(REMOTE_ADDR=fresh_ip), alice, fresh=False)
    url = f"/settings/api-tokens/{robot.public_id}/reveal/"
    value: str = robot.plain_value  # type: ignore[attr-defined]
    wrong = [browser.post(url, {"password": f"guess {n}"}) for n in range(3)]
    assert [r.status_code for r in wrong] == [400, 400, 400]
    assert all("The password is not correct." in r.content.decode() for r in wrong)
    locked = browser.post(url, {"password": PASSWORD})  # one over, the right password
    assert locked.status_code == 429
    assert "Too many wrong passwords. Try again later." in locked.content.decode()
    assert locked["Retry-After"] == str(WINDOW - 100)
    assert value not in locked.content.decode()
    assert events(services.EVENT_VALUE_REVEALED) == 0
    # Every wrong password is recorded; the limiter's refusal checks no password: not recorded.
    assert events(services.EVENT_VALUE_REVEAL_FAILED) == 3
    # The same counters guard the sign-in form: guessing here does not reset guessing there.
    assert attempt(alice.email, PASSWORD, fresh_ip).status_code == 429
    move(clock, WINDOW)
    revealed = browser.post(url, {"password": PASSWORD})
    assert revealed.status_code == 200
    assert value in revealed.content.decode()
    assert events(services.EVENT_VALUE_REVEALED) == 1


@override_settings(SIGNIN_FAILURE_LIMIT_EMAIL=3, SIGNIN_FAILURE_WINDOW=WINDOW)
def test_a_wrong_password_that_raced_past_the_check_is_answered_as_over_the_limit(
    alice: User, robot: ApiToken, limits: None, clock: Any, fresh_ip: str, monkeypatch: Any
) -> None:
    # Concurrent guesses can all pass check() before any of them counts: the one whose count
    # lands past the limit is refused like any attempt over it (issue 13 item 10).
    browser = sign_in(SecureClient(REMOTE_ADDR=fresh_ip), alice, fresh=False)
    url = f"/settings/api-tokens/{robot.public_id}/reveal/"
    for n in range(3):
        assert browser.post(url, {"password": f"guess {n}"}).status_code == 400
    monkeypatch.setattr(
        signin_limits, "check", lambda **_: signin_limits.Verdict(allowed=True, retry_after=0)
    )
    raced = browser.post(url, {"password": "guess 3"})
    assert raced.status_code == 429
    assert int(raced["Retry-After"]) > 0
    assert events(services.EVENT_VALUE_REVEAL_FAILED) == 3


def test_a_reveal_within_the_window_needs_no_password_and_counts_nothing(
    alice: User, robot: ApiToken, fresh_ip: str
) -> None:
    browser = sign_in(SecureClient(REMOTE_ADDR=fresh_ip), alice, fresh=True)
    url = f"/settings/api-tokens/{robot.public_id}/reveal/"
    for _ in range(5):
        assert browser.post(url).status_code == 200
    assert events(services.EVENT_VALUE_REVEALED) == 5
    assert signin_limits.check(email=alice.email, ip=fresh_ip).allowed


def test_the_limits_and_windows_are_read_from_the_environment(tmp_path: Path) -> None:
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ} | {
        "DJANGO_SETTINGS_MODULE": "tokens_admin.settings",
        "VAR_DIR": str(tmp_path),
        "SIGNIN_FAILURE_LIMIT_EMAIL": "7",
        "SIGNIN_FAILURE_LIMIT_IP": "70",
        "SIGNIN_FAILURE_WINDOW": "120",
        "API_AUTH_FAILURE_LIMIT": "9",
        "API_AUTH_FAILURE_WINDOW": "30",
    }
    code = (
        "import json, django; django.setup()\n"
        "from accounts.ratelimit import _limiters\n"
        "from apitokens.middleware import auth_failures\n"
        "print(json.dumps([(l.name, l.limit, l.window_seconds)"
        " for l in (*_limiters(), auth_failures)]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        ["signin-email", 7, 120],
        ["signin-ip", 70, 120],
        ["api-auth", 9, 30],
    ]
    refused = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env | {"API_AUTH_FAILURE_LIMIT": "0"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0
    assert "API_AUTH_FAILURE_LIMIT must be at least 1" in refused.stderr


def test_a_locked_address_is_not_unlocked_by_a_system_change(
    client: Client, robot: ApiToken, fresh_ip: str, clock: Any
) -> None:
    # Disabling and enabling the token (what an administrator might do under attack) leaves
    # the address's count alone: the limit is on the address, not on the token.
    with mock.patch.object(middleware.auth_failures, "limit", 2):
        for _ in range(2):
            bad = client.get(
                TOKENS_URL,
                secure=True,
                REMOTE_ADDR=fresh_ip,
                HTTP_AUTHORIZATION="Bearer " + generate_value("TKN-0000-0002"),
            )
            assert bad.status_code == 401
        services.disable_token(token=robot, actor=Actor.system())
        services.enable_token(token=robot, actor=Actor.system())
        again = client.get(TOKENS_URL, secure=True, **bearer(robot, REMOTE_ADDR=fresh_ip))
    assert again.status_code == 429
