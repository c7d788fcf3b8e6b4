"""Rotation without an outage, on a real HTTPS gunicorn (issue 16): requests with the old value
flow on through a rotation with a 3-second grace period; none fails before
``previousValidUntil``, every one after it is refused, and the new value works throughout.
Two rotations at the same moment leave one current value and one previous one."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from apitokens import secrets as token_secrets
from apitokens.models import ApiToken
from tests.factories import AccountFactory, TokenFactory
from tests.live import https_server
from tests.security.web import http_client

API = "/public/v1/accounts/api-tokens"
GRACE = 3
# How far from previousValidUntil a request may be and still not be judged: the server and this
# process read one clock, but a request takes time between its send and its check.
SLACK = 0.25


@pytest.mark.django_db(transaction=True)
def test_old_value_works_until_the_grace_ends_and_the_new_one_throughout(tmp_path: Path) -> None:
    account = AccountFactory(name="Rolling")
    admin = TokenFactory(account=account, name="Admin robot", modules=["MOD-1756"])
    robot = TokenFactory(account=account, name="Busy robot")
    old_value = robot.plain_value
    path = f"{API}/{robot.public_id}"
    # Hundreds of refused requests from one address are the point here, not the rate limit.
    with https_server(tmp_path, API_AUTH_FAILURE_LIMIT="1000000") as server:
        results: list[tuple[str, float, float, int]] = []
        new_value: list[str] = []
        stop = threading.Event()

        def hammer(label: str) -> None:
            with http_client(server) as client:
                while not stop.is_set():
                    value = old_value if label == "old" else (new_value or [None])[0]
                    if value is None:
                        time.sleep(0.01)
                        continue
                    sent = time.time()
                    status = client.get(path, headers={"Authorization": f"Bearer {value}"})
                    results.append((label, sent, time.time(), status.status_code))

        with ThreadPoolExecutor(max_workers=3) as pool:
            workers = [pool.submit(hammer, "old"), pool.submit(hammer, "old")]
            workers.append(pool.submit(hammer, "new"))
            time.sleep(0.5)
            with http_client(server) as client:
                rotated = client.post(
                    f"{path}/rotate",
                    json={"gracePeriod": GRACE},
                    headers={"Authorization": f"Bearer {admin.plain_value}"},
                )
            assert rotated.status_code == 200, rotated.text
            body = rotated.json()
            new_value.append(body["token"])
            until = datetime.fromisoformat(body["rotation"]["previousValidUntil"]).timestamp()
            while time.time() < until + 1.5:
                time.sleep(0.1)
            stop.set()
            for worker in workers:
                worker.result()

    old = [r for r in results if r[0] == "old"]
    before = [r for r in old if r[2] < until - SLACK]
    after = [r for r in old if r[1] > until + SLACK]
    assert len(before) > 20, len(before)
    assert len(after) > 5, len(after)
    assert {r[3] for r in before} == {200}, "the old value failed during the grace period"
    assert {r[3] for r in after} == {401}, "the old value worked after the grace period"
    new = [r for r in results if r[0] == "new"]
    assert len(new) > 20
    assert {r[3] for r in new} == {200}, "the new value failed"


@pytest.mark.django_db(transaction=True)
def test_two_rotations_at_once_leave_one_current_value(tmp_path: Path) -> None:
    account = AccountFactory(name="Contended")
    admin = TokenFactory(account=account, name="Admin robot", modules=["MOD-1756"])
    robot = TokenFactory(account=account, name="Robot")
    path = f"{API}/{robot.public_id}"
    # (Failures counted by other tests' servers in the shared Redis must not turn into a 429.)
    with https_server(tmp_path, API_AUTH_FAILURE_LIMIT="1000000") as server:
        start = threading.Barrier(2)

        def rotate() -> str:
            with http_client(server) as client:
                start.wait()
                response = client.post(
                    f"{path}/rotate",
                    json={"gracePeriod": 3600},
                    headers={"Authorization": f"Bearer {admin.plain_value}"},
                )
                assert response.status_code == 200, response.text
                return str(response.json()["token"])

        with ThreadPoolExecutor(max_workers=2) as pool:
            values = list(pool.map(lambda _: rotate(), range(2)))
        with http_client(server) as client:

            def status(value: str) -> int:
                return client.get(path, headers={"Authorization": f"Bearer {value}"}).status_code

            assert status(robot.plain_value) == 401  # the second rotation ended its grace
            assert [status(v) for v in values] == [200, 200]  # current and previous
    stored = ApiToken.objects.get(pk=robot.pk)
    digests = [token_secrets.digest(v, token_secrets_pepper()) for v in values]
    assert sorted(digests) == sorted([stored.digest, stored.previous_digest])
    assert stored.digest != stored.previous_digest


def token_secrets_pepper() -> bytes:
    from django.conf import settings

    return settings.TOKEN_PEPPER
