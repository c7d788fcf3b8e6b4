"""Issue 6 item 6: faults. The database goes away or turns read-only, Redis is unreachable, the
disk fills up: the API answers a 503 problem, the UI an error page of ours (never Django's debug
page, never a stack trace), nothing is half-written, and the logs say what happened once."""

from __future__ import annotations

import errno
import io
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import Client, override_settings
from PIL import Image

from accounts import ratelimit as signin_limits
from accounts.models import Account, User
from apitokens import logos
from apitokens.models import ApiToken, TokenStatus
from audit.models import AuditRecord
from tests.factories import TokenFactory
from tests.live import free_port, https_server
from tests.security.conftest import TOKENS_URL, bearer, everything
from tests.ui.conftest import SecureClient, htmx, sign_in
from tokens_admin import ratelimit

AUDIT_INSERT = re.compile(r'^\s*INSERT INTO "audit_auditrecord"\s')
WIZARD = "/settings/api-tokens/add/"
PASSWORD = "correct horse battery staple"
# What must never reach a browser or an API client, whatever failed.
LEAKS = ("Traceback", "OperationalError", "connection unexpectedly", 'File "', "Django Version")


@contextmanager
def database_fails(*, after: int = 0, matching: re.Pattern[str] | None = None) -> Iterator[None]:
    """Statements fail as on a lost connection: every one after the first ``after``, or only
    those ``matching``. The failure happens at the driver boundary, so everything above it —
    transactions, services, views, middleware — meets the real error type."""
    seen = 0

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal seen
        seen += 1
        if seen > after and (matching is None or matching.match(sql)):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield


def assert_503_problem(response: Any) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert (body["status"], body["title"]) == (503, "Service Unavailable")
    assert body["traceId"] == response["traceparent"]
    text = response.content.decode()
    assert "<html" not in text
    for leak in LEAKS:
        assert leak not in text


def assert_503_page(response: Any) -> None:
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert int(response["Retry-After"]) > 0
    text = response.content.decode()
    assert "temporarily unavailable" in text
    for leak in LEAKS:
        assert leak not in text


def api_call(client: Client, token: ApiToken, method: str, path: str, body: Any = None) -> Any:
    data = "" if body is None else json.dumps(body)
    return getattr(client, method)(
        path, data=data, content_type="application/json", secure=True, **bearer(token)
    )


API_CHANGES = [
    ("post", "", {"name": "New robot"}),
    ("put", "/{id}", {"name": "Renamed", "description": "changed"}),
    ("post", "/{id}/disable", None),
    ("delete", "/{id}", None),
]


# --- Database lost in the middle of a request ---------------------------------------------


@pytest.mark.django_db(transaction=True)  # autocommit, as in production: nothing to hide behind
@pytest.mark.parametrize(("method", "suffix", "body"), [*API_CHANGES, ("get", "", None)])
def test_it_answers_a_503_problem_when_the_database_goes_away_after_authentication(
    browser: Client, robot: ApiToken, method: str, suffix: str, body: Any
) -> None:
    before = everything()
    # Statement 1 is the Bearer lookup (tests/apitokens/test_bearer.py proves it is one query);
    # the connection is lost right after it.
    with database_fails(after=1):
        response = api_call(
            browser, robot, method, TOKENS_URL + suffix.format(id=robot.public_id), body
        )
    assert_503_problem(response)
    assert everything() == before


@pytest.mark.parametrize(("method", "suffix", "body"), API_CHANGES)
def test_it_rolls_back_the_change_when_its_audit_record_cannot_be_written(
    browser: Client, robot: ApiToken, method: str, suffix: str, body: Any
) -> None:
    before = everything()
    # The token's own INSERT or UPDATE has run by then: it must roll back with the record.
    with database_fails(matching=AUDIT_INSERT):
        response = api_call(
            browser, robot, method, TOKENS_URL + suffix.format(id=robot.public_id), body
        )
    assert_503_problem(response)
    assert everything() == before
    # And once the database is back, the same request goes through, recorded.
    again = api_call(browser, robot, method, TOKENS_URL + suffix.format(id=robot.public_id), body)
    assert again.status_code in (200, 201, 204)
    # (Its first served use from this address is recorded too: issue 17's used_from_new_ip.)
    changes = AuditRecord.objects.exclude(event_key__endswith=".used_from_new_ip")
    assert changes.count() == len(before["records"]) + 1


@pytest.mark.parametrize("hx", [False, True], ids=["page", "htmx"])
def test_the_ui_shows_an_error_page_when_a_change_cannot_be_recorded(
    browser: Client, alice: User, robot: ApiToken, hx: bool
) -> None:
    sign_in(browser, alice)
    before = everything()
    with database_fails(matching=AUDIT_INSERT):
        response = browser.post(
            f"/settings/api-tokens/{robot.public_id}/disable/", **(htmx() if hx else {})
        )
    assert_503_page(response)
    assert everything() == before
    robot.refresh_from_db()
    assert robot.status == TokenStatus.ACTIVE


def test_the_wizard_creates_nothing_when_the_database_fails_at_the_last_step(
    browser: Client, alice: User
) -> None:
    sign_in(browser, alice)
    first = browser.get(WIZARD).content.decode()
    state = re.search(r'name="state" value="([^"]+)"', first)
    assert state is not None
    modules = browser.post(
        WIZARD, {"state": state.group(1), "step": "general", "name": "Fault bot"}, follow=True
    ).content.decode()
    state = re.search(r'name="state" value="([^"]+)"', modules)
    assert state is not None
    overview = browser.post(
        WIZARD, {"state": state.group(1), "step": "modules"}, follow=True
    ).content.decode()
    state = re.search(r'name="state" value="([^"]+)"', overview)
    assert state is not None
    before = everything()
    with database_fails(matching=AUDIT_INSERT):
        response = browser.post(WIZARD, {"state": state.group(1), "step": "overview", "nav": "add"})
    assert_503_page(response)
    assert everything() == before
    assert not ApiToken.objects.filter(name="Fault bot").exists()


def test_the_ui_shows_an_error_page_when_the_database_is_gone_before_the_request(
    browser: Client, alice: User, robot: ApiToken
) -> None:
    sign_in(browser, alice)
    with database_fails():  # even the session cannot be read
        listing = browser.get("/settings/api-tokens/")
        details = browser.get(f"/settings/api-tokens/{robot.public_id}/")
    assert_503_page(listing)
    assert_503_page(details)


# --- The real thing: a read-only and an unreachable database -------------------------------


@contextmanager
def read_only_database() -> Iterator[None]:
    """The database itself refuses every write (SQLite ``query_only``; PostgreSQL read-only
    transactions by default, as on a hot standby)."""
    on, off = (
        ("PRAGMA query_only = ON", "PRAGMA query_only = OFF")
        if connection.vendor == "sqlite"
        else (
            "SET default_transaction_read_only = on",
            "SET default_transaction_read_only = off",
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(on)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(off)


@contextmanager
def unreachable_database() -> Iterator[None]:
    """The database cannot be connected to at all: a closed port (PostgreSQL) or a file in a
    directory that does not exist (SQLite)."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent/tokens-admin.sqlite3"
    else:
        connection.settings_dict["HOST"] = "127.0.0.1"
        connection.settings_dict["PORT"] = str(free_port())
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_a_read_only_database_refuses_changes_cleanly_and_still_serves_reads(
    browser: Client, alice: User, acme: Account, robot: ApiToken
) -> None:
    sign_in(browser, alice, account=acme.public_id)
    assert api_call(browser, robot, "get", TOKENS_URL).status_code == 200  # lastAccessAt now set
    other = sign_in(SecureClient(raise_request_exception=False), alice)
    before = everything()
    with read_only_database():
        reads = [
            api_call(browser, robot, "get", TOKENS_URL),
            browser.get("/settings/api-tokens/"),
            browser.get(f"/settings/api-tokens/{robot.public_id}/"),
        ]
        created = api_call(browser, robot, "post", TOKENS_URL, {"name": "Read only"})
        disabled = api_call(browser, robot, "post", f"{TOKENS_URL}/{robot.public_id}/disable")
        ui_disabled = browser.post(f"/settings/api-tokens/{robot.public_id}/disable/")
        # A first page after sign-in stores the current account in the session: a write too.
        session_write = other.get("/settings/api-tokens/")
        signin = SecureClient(raise_request_exception=False).post(
            "/signin/", {"email": alice.email, "password": PASSWORD}
        )
    assert [r.status_code for r in reads] == [200, 200, 200]
    assert_503_problem(created)
    assert_503_problem(disabled)
    assert_503_page(ui_disabled)
    assert_503_page(session_write)  # not Django's 400 "session interrupted"
    assert_503_page(signin)
    assert everything() == before


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_is_a_503_everywhere_but_healthz(
    browser: Client, alice: User, robot: ApiToken
) -> None:
    sign_in(browser, alice)
    before = everything()
    with unreachable_database():
        api = api_call(browser, robot, "get", TOKENS_URL)
        change = api_call(browser, robot, "post", f"{TOKENS_URL}/{robot.public_id}/disable")
        page = browser.get("/settings/api-tokens/")
        signin = Client(raise_request_exception=False).post(
            "/signin/", {"email": alice.email, "password": PASSWORD}, secure=True
        )
        ready = browser.get("/readyz")
        healthy = browser.get("/healthz")
    assert_503_problem(api)
    assert_503_problem(change)
    assert_503_page(page)
    assert_503_page(signin)
    assert (ready.status_code, healthy.status_code) == (503, 200)
    assert everything() == before


# --- Redis unreachable ----------------------------------------------------------------------


def dead_redis() -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


@pytest.fixture
def store_state() -> Iterator[None]:
    """The limiters' memory of the shared store being down is per process; start from "up"."""
    ratelimit.store.reset()
    signin_limits.reset_for_tests()
    yield
    ratelimit.store.reset()
    signin_limits.reset_for_tests()


def unreachable_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "tokens_admin.ratelimit" and r.levelno >= logging.WARNING
    ]


def test_without_redis_the_app_keeps_serving_limits_per_process_and_says_so_once(
    robot: ApiToken, alice: User, fresh_ip: str, store_state: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tokens_admin.ratelimit")
    api_limit = 3
    with (
        override_settings(CACHES=dead_redis(), SIGNIN_FAILURE_LIMIT_EMAIL=2),
        mock.patch.object(ratelimit.store, "retry_seconds", 0),  # retry on every call
        mock.patch("apitokens.middleware.auth_failures.limit", api_limit),
    ):
        signin_limits.reset_for_tests()
        client = SecureClient(REMOTE_ADDR=fresh_ip)
        served = [client.get("/signin/").status_code]
        served.append(
            client.post("/signin/", {"email": alice.email, "password": PASSWORD}).status_code
        )
        served.append(client.get("/settings/api-tokens/").status_code)
        served += [client.get(TOKENS_URL, **bearer(robot)).status_code for _ in range(5)]
        bad = {"HTTP_AUTHORIZATION": "Bearer " + robot.plain_value[:-10] + "A" * 10}  # type: ignore[attr-defined]
        api_failures = [client.get(TOKENS_URL, **bad).status_code for _ in range(api_limit + 1)]
        wrong = {"email": alice.email, "password": "wrong"}
        signin_failures = [client.post("/signin/", wrong).status_code for _ in range(3)]
    assert served == [200, 302, 200, 200, 200, 200, 200, 200]
    # Counted in this process while the store is away: the limits still hold.
    assert api_failures == [401] * api_limit + [429]
    assert signin_failures == [400, 400, 429]
    warnings = unreachable_warnings(caplog)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "per process" in warnings[0].getMessage()
    assert "ConnectionError" in warnings[0].getMessage()


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FlakyStore:
    """A cache that is down until told otherwise, counting how often it was asked."""

    def __init__(self) -> None:
        self.up = False
        self.calls = 0
        self.data: dict[str, int] = {}

    def _touch(self) -> None:
        self.calls += 1
        if not self.up:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    def get(self, key: str) -> int | None:
        self._touch()
        return self.data.get(key)

    def add(self, key: str, value: int, timeout: int) -> bool:
        self._touch()
        if key in self.data:
            return False
        self.data[key] = value
        return True

    def incr(self, key: str) -> int:
        self._touch()
        self.data[key] += 1
        return self.data[key]


def test_an_unreachable_store_is_retried_only_now_and_then_and_its_return_is_logged_once(
    store_state: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tokens_admin.ratelimit")
    flaky = FlakyStore()
    limiter = ratelimit.FailureLimiter("flaky", limit=3, window_seconds=60)
    moment = Clock(1_000_000.0)
    with (
        mock.patch.object(
            ratelimit, "shared_counters", return_value=ratelimit.CacheCounters(flaky)
        ),
        mock.patch.object(ratelimit.store, "clock", moment),
    ):
        verdicts = []
        for _ in range(50):  # a burst of failures while the store is down
            verdicts.append(limiter.check("192.0.2.7", now=120.0).allowed)
            limiter.fail("192.0.2.7", now=120.0)
        calls_while_down = flaky.calls
        moment.now += ratelimit.store.retry_seconds + 1
        flaky.up = True
        limiter.fail("192.0.2.8", now=120.0)
        limiter.fail("192.0.2.8", now=120.0)
    # One attempt reached the dead store; the rest went straight to the process's counters,
    # which still refused the address after its third failure.
    assert calls_while_down == 1
    assert verdicts == [True] * 3 + [False] * 47
    assert flaky.data == {"rl:flaky:2:192.0.2.8": 2}
    messages = [
        (r.levelname, r.getMessage()) for r in caplog.records if r.name == "tokens_admin.ratelimit"
    ]
    assert len(messages) == 2, messages
    assert messages[0][0] == "WARNING"
    assert "unreachable" in messages[0][1]
    assert messages[1][0] == "INFO"
    assert "reachable again" in messages[1][1]


@pytest.mark.django_db(transaction=True)
def test_a_server_with_redis_down_serves_and_logs_it_once_per_process(
    tmp_path: Path, robot: ApiToken
) -> None:
    import ssl

    import httpx

    with (
        https_server(
            tmp_path,
            REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
            API_AUTH_FAILURE_LIMIT="3",
            LOG_FORMAT="text",
        ) as server,
        httpx.Client(
            base_url=server.url, verify=ssl.create_default_context(cafile=str(server.cafile))
        ) as http,
    ):
        good = {"Authorization": f"Bearer {robot.plain_value}"}  # type: ignore[attr-defined]
        bad = {"Authorization": "Bearer " + robot.plain_value[:-10] + "A" * 10}  # type: ignore[attr-defined]
        statuses = [http.get("/signin/").status_code, http.get("/readyz").status_code]
        statuses += [http.get(TOKENS_URL, headers=good).status_code for _ in range(4)]
        # Two workers, three failures allowed in each: by the 7th, one of them must refuse.
        failures = [http.get(TOKENS_URL, headers=bad).status_code for _ in range(7)]
        time.sleep(0.5)  # let the workers flush their log lines
        log = server.log.read_text(errors="replace")
    assert statuses == [200, 200, 200, 200, 200, 200]
    assert set(failures) <= {401, 429}
    assert 429 in failures
    lines = [line for line in log.splitlines() if "rate limit store unreachable" in line]
    assert 1 <= len(lines) <= 2, lines  # once per worker process that met it, never per request
    assert robot.plain_value not in log  # type: ignore[attr-defined]


# --- Disk full while storing a logo ---------------------------------------------------------


def png_upload() -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "logo.png"
    return buffer


class FullDisk:
    """A file handle on a full disk: the first bytes go out, then ENOSPC."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def write(self, data: bytes) -> int:
        self.handle.write(data[:100])
        self.handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


@contextmanager
def disk_full() -> Iterator[None]:
    real_open = Path.open

    def open_on_full_disk(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, mode, *args, **kwargs)
        if self.is_relative_to(logos.logo_dir()) and ("w" in mode or "x" in mode):
            return FullDisk(handle)
        return handle

    with mock.patch.object(Path, "open", open_on_full_disk):
        yield


def stored_logos() -> set[Path]:
    folder = Path(settings.MEDIA_ROOT) / "logos"
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def test_a_full_disk_in_the_wizard_is_a_clear_form_error_and_leaves_no_file(
    browser: Client, alice: User, caplog: pytest.LogCaptureFixture
) -> None:
    sign_in(browser, alice)
    first = browser.get(WIZARD).content.decode()
    state = re.search(r'name="state" value="([^"]+)"', first)
    assert state is not None
    files = stored_logos()
    with disk_full():
        response = browser.post(
            WIZARD,
            {"state": state.group(1), "step": "general", "name": "Logo bot", "logo": png_upload()},
            follow=True,  # without JavaScript a step answers 303 to its GET page (issue 15)
        )
    assert response.status_code == 507
    body = response.content.decode()
    assert "The logo could not be saved: the server is out of storage space." in body
    assert 'name="name"' in body  # still the General step, with what was typed
    assert "Logo bot" in body
    assert stored_logos() == files  # no partial file left behind
    assert not ApiToken.objects.exists()
    assert "No space left" not in body
    assert any("ENOSPC" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_a_full_disk_in_the_edit_dialog_leaves_the_token_and_its_icon_alone(
    browser: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, name="CRM robot", description="Old")
    sign_in(browser, alice)
    files = stored_logos()
    before = everything()
    with disk_full():
        response = browser.post(
            f"/settings/api-tokens/{token.public_id}/edit/",
            {"step": "general", "name": "CRM robot 2", "description": "New", "logo": png_upload()},
            **htmx(),
        )
    assert response.status_code == 507
    assert "The logo could not be saved: the server is out of storage space." in (
        response.content.decode()
    )
    assert everything() == before  # no rename, no dangling icon, no record
    assert stored_logos() == files
