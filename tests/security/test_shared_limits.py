"""Issue 13 item 10: without Redis, every worker of a node counts failures in one store.

A real gunicorn with two workers and no REDIS_URL, as `make run` serves: the limits were counted
per worker process (a local-memory cache), so two workers allowed twice the failures. Requests
go out four at a time on fresh connections, so both workers serve some (checked in gunicorn's
access log, which names the worker's pid for each response), and the limit holds exactly: the
database counts with atomic increments, and a failure that raced past the limit is refused."""

from __future__ import annotations

import re
import ssl
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from accounts.models import User
from apitokens.models import ApiToken
from audit.models import AuditRecord
from tests.live import LiveServer, live_server
from tests.security.conftest import TOKENS_URL

LIMIT = 5
ATTEMPTS = 12
PASSWORD = "correct horse battery staple"
_FORM_CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# Long windows: a window ending during the test would start the count again.
ENV = {
    "REDIS_URL": "",
    "SIGNIN_FAILURE_LIMIT_EMAIL": str(LIMIT),
    "SIGNIN_FAILURE_LIMIT_IP": "1000",
    "SIGNIN_FAILURE_WINDOW": "86400",
    "API_AUTH_FAILURE_LIMIT": str(LIMIT),
    "API_AUTH_FAILURE_WINDOW": "3600",
}


def serving(tmp_path: Path) -> tuple[Path, list[str]]:
    access = tmp_path / "access.log"
    args = ["--access-logfile", str(access), "--access-logformat", "%(p)s %({traceparent}o)s"]
    return access, args


def client(server: LiveServer) -> httpx.Client:
    # One connection per client, and gunicorn's sync workers close it after each response.
    return httpx.Client(
        base_url=server.url, verify=ssl.create_default_context(cafile=str(server.cafile))
    )


def four_at_a_time(attempt: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(attempt, range(ATTEMPTS)))


def workers_of(access: Path, responses: list[httpx.Response]) -> set[str]:
    """The pids of the workers that answered ``responses`` (by their trace ids)."""
    traces = {r.headers["traceparent"] for r in responses}
    deadline = time.monotonic() + 10
    while True:
        lines = [line.split() for line in access.read_text().splitlines() if line.strip()]
        pids = {pid for pid, trace in lines if trace in traces}
        answered = {trace for _, trace in lines if trace in traces}
        if answered == traces or time.monotonic() > deadline:
            return pids
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_two_workers_without_redis_allow_exactly_the_sign_in_limit(
    tmp_path: Path, alice: User
) -> None:
    access, args = serving(tmp_path)
    with live_server(tmp_path, args=args, **ENV) as server:

        def attempt(password: str) -> httpx.Response:
            with client(server) as browser:
                page = browser.get("/signin/")
                found = _FORM_CSRF_RE.search(page.text)
                assert found is not None, page.text[:300]
                return browser.post(
                    "/signin/",
                    data={
                        "email": alice.email,
                        "password": password,
                        "csrfmiddlewaretoken": found.group(1),
                    },
                    headers={"Referer": f"{server.url}/signin/"},
                )

        wrong = four_at_a_time(lambda n: attempt(f"wrong guess {n}"))
        right = attempt(PASSWORD)  # the 13th attempt, with the right password
        pids = workers_of(access, [*wrong, right])
    statuses = Counter(r.status_code for r in wrong)
    print(f"sign-in, limit {LIMIT}, {ATTEMPTS} wrong passwords on {len(pids)} workers: {statuses}")
    assert len(pids) == 2  # both workers answered some
    assert statuses == {400: LIMIT, 429: ATTEMPTS - LIMIT}
    assert right.status_code == 429
    assert "sessionid" not in right.cookies
    failed = AuditRecord.objects.filter(event_key="platform.accounts.user.sign_in_failed")
    assert failed.count() == LIMIT


@pytest.mark.django_db(transaction=True)
def test_two_workers_without_redis_allow_exactly_the_api_failure_limit(
    tmp_path: Path, robot: ApiToken
) -> None:
    value: str = robot.plain_value  # type: ignore[attr-defined]
    bad = {"Authorization": "Bearer " + value[:-10] + "A" * 10}
    access, args = serving(tmp_path)
    with live_server(tmp_path, args=args, **ENV) as server:

        def attempt(_: int) -> httpx.Response:
            with client(server) as api:
                return api.get(TOKENS_URL, headers=bad)

        failures = four_at_a_time(attempt)
        with client(server) as api:
            valid = [api.get(TOKENS_URL, headers={"Authorization": f"Bearer {value}"})]
            valid += [api.get(TOKENS_URL, headers={"Authorization": f"Bearer {value}"})]
        pids = workers_of(access, [*failures, *valid])
    statuses = Counter(r.status_code for r in failures)
    print(f"Bearer, limit {LIMIT}, {ATTEMPTS} invalid tokens on {len(pids)} workers: {statuses}")
    assert len(pids) == 2
    assert statuses == {401: LIMIT, 429: ATTEMPTS - LIMIT}
    # Both workers saw the address fail, so both refuse even a valid token now.
    assert [r.status_code for r in valid] == [429, 429]
