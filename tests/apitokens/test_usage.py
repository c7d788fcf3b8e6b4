"""Usage insight (issue 17): counts per UTC day, refused attempts with the token's id, the last
address and User-Agent, the recent addresses, and a ``used_from_new_ip`` record at the first
served use from an address, all without a database write per request: buffered in this
process (or Redis), flushed by the once-a-minute lastAccessAt winner. With Redis two servers
share one buffer: 1,000 requests from three addresses over two nodes give exact counts."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from accounts.models import Account
from apitokens import middleware, usage
from apitokens.models import ApiToken, TokenAddress, TokenDailyUsage
from apitokens.secrets import generate_value
from audit.models import AuditRecord
from tests.factories import TokenFactory
from tests.live import live_server

URL = "/public/v1/accounts/api-tokens"
NEW_IP = usage.EVENT_NEW_IP


@pytest.fixture(autouse=True)
def _fresh() -> None:
    cache.clear()
    middleware.auth_failures.forget()


@pytest.fixture
def robot(acme: Account) -> ApiToken:
    return TokenFactory(account=acme, name="Robot", modules=["MOD-1756"])


def use(
    client: Client, token: ApiToken, ip: str, *, value: str | None = None, agent: str = ""
) -> int:
    secret = value or token.plain_value  # type: ignore[attr-defined]
    return client.get(
        f"{URL}/{token.public_id}",
        secure=True,
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        REMOTE_ADDR=ip,
        HTTP_USER_AGENT=agent,
    ).status_code


def read_usage(client: Client, token: ApiToken) -> dict:
    response = client.get(
        f"{URL}/{token.public_id}?select=%2Busage",
        secure=True,
        HTTP_AUTHORIZATION=f"Bearer {token.plain_value}",  # type: ignore[attr-defined]
        REMOTE_ADDR="192.0.2.250",
    )
    assert response.status_code == 200, response.content
    body: dict = response.json()["usage"]
    return body


def today_of(found: dict) -> dict:
    today = timezone.now().astimezone(UTC).date().isoformat()
    [entry] = [d for d in found["daily"] if d["day"] == today]
    return entry


def test_usage_counts_days_addresses_and_refusals_and_records_each_new_address(
    client: Client, robot: ApiToken
) -> None:
    for _ in range(3):
        assert use(client, robot, "198.51.100.1", agent="crm-sync/1.0") == 200
    assert use(client, robot, "198.51.100.2", agent="crm-sync/1.1") == 200
    wrong = generate_value(robot.public_id)  # the token's id, a secret that is not its own
    assert use(client, robot, "203.0.113.66", value=wrong) == 401
    found = read_usage(client, robot)
    # The reading request counts too (from 192.0.2.250), after what it reports.
    assert today_of(found)["requests"] == 4
    assert today_of(found)["refused"] == 1
    assert len(found["daily"]) == 30
    assert found["lastAccessIp"] == "198.51.100.2"
    assert found["lastAccessUserAgent"] == "crm-sync/1.1"
    assert [a["ip"] for a in found["recentIps"]] == ["198.51.100.2", "198.51.100.1"]
    records = AuditRecord.objects.filter(event_key=NEW_IP, object_id=robot.public_id)
    # (the reader's own address too, recorded once its answer was sent)
    assert sorted(r.documents["ip"] for r in records) == [
        "192.0.2.250",
        "198.51.100.1",
        "198.51.100.2",
    ]
    assert "203.0.113.66" not in str([r.documents for r in records])  # refused: not a use
    # After a flush the same numbers come from the database (and the reader's request).
    usage.flush_all()
    assert usage.buffer().peek(robot.pk) is None
    row = TokenDailyUsage.objects.get(token=robot)
    assert (row.requests, row.refused) == (5, 1)
    assert today_of(read_usage(client, robot))["requests"] == 5


def test_a_refused_request_records_no_new_address(client: Client, robot: ApiToken) -> None:
    response = client.post(
        URL,
        data="{not json",
        content_type="application/json",
        secure=True,
        HTTP_AUTHORIZATION=f"Bearer {robot.plain_value}",  # type: ignore[attr-defined]
        REMOTE_ADDR="198.51.100.9",
    )
    assert response.status_code == 400
    assert not AuditRecord.objects.filter(event_key=NEW_IP).exists()
    assert not TokenAddress.objects.exists()


def test_the_recent_addresses_are_the_last_ten(client: Client, robot: ApiToken) -> None:
    for n in range(12):
        assert use(client, robot, f"198.51.100.{n + 1}") == 200
    found = read_usage(client, robot)
    assert [a["ip"] for a in found["recentIps"]] == [f"198.51.100.{n}" for n in range(12, 2, -1)]
    assert AuditRecord.objects.filter(event_key=NEW_IP).count() == 13  # the reader's too


def test_a_flush_adds_to_the_day_and_moves_last_seen(robot: ApiToken) -> None:
    now = timezone.now()
    earlier = now - timedelta(minutes=5)
    usage.buffer().note(robot.pk, "198.51.100.1", "a", earlier, refused=False)
    usage.flush(robot.pk)
    TokenAddress.objects.create(
        token=robot, ip="198.51.100.7", first_seen=earlier, last_seen=earlier
    )
    for _ in range(2):
        usage.buffer().note(robot.pk, "198.51.100.7", "b", now, refused=False)
    usage.buffer().note(robot.pk, "", "", now, refused=True)
    usage.flush(robot.pk)
    row = TokenDailyUsage.objects.get(token=robot, day=now.astimezone(UTC).date())
    if earlier.astimezone(UTC).date() == now.astimezone(UTC).date():
        assert (row.requests, row.refused, row.flushes) == (3, 1, 2)
    address = TokenAddress.objects.get(token=robot, ip="198.51.100.7")
    assert (address.first_seen, address.last_seen) == (earlier, now)


def test_the_list_reads_usage_in_constant_queries(
    client: Client, acme: Account, robot: ApiToken, django_assert_max_num_queries
) -> None:
    for n in range(5):
        other = TokenFactory(account=acme, name=f"Other {n}")
        use(client, other, "198.51.100.1")
    use(client, robot, "198.51.100.1")
    with django_assert_max_num_queries(8):
        listed = client.get(
            f"{URL}?select=%2Busage&limit=50",
            secure=True,
            HTTP_AUTHORIZATION=f"Bearer {robot.plain_value}",  # type: ignore[attr-defined]
            REMOTE_ADDR="198.51.100.1",
        )
    assert listed.status_code == 200
    assert all(len(t["usage"]["daily"]) == 30 for t in listed.json()["data"])


def test_usage_is_left_out_unless_selected(client: Client, robot: ApiToken) -> None:
    body = client.get(
        f"{URL}/{robot.public_id}",
        secure=True,
        HTTP_AUTHORIZATION=f"Bearer {robot.plain_value}",  # type: ignore[attr-defined]
    ).json()
    assert "usage" not in body


# --- two nodes sharing Redis ----------------------------------------------------------------


def _require_redis() -> str:
    url = settings.REDIS_URL
    if not url:
        message = "needs Redis: run with REDIS_URL=redis://127.0.0.1:6379/<db of its own>"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(message + " (REQUIRE_SERVICES=1)")
        pytest.skip(message)
    return url


@pytest.mark.django_db(transaction=True)
def test_two_nodes_sharing_redis_count_exactly_with_one_flush_a_minute(
    tmp_path: Path, acme: Account
) -> None:
    redis_url = _require_redis()
    token = TokenFactory(account=acme, name="Busy robot", modules=["MOD-1756"])
    value = token.plain_value  # type: ignore[attr-defined]
    addresses = ["198.51.100.1", "198.51.100.2", "2001:db8::3"]
    env = {"REDIS_URL": redis_url, "TRUSTED_PROXY": "127.0.0.1"}
    started = datetime.now(UTC)
    with (
        live_server(tmp_path / "a", tls=False, **env) as first,
        live_server(tmp_path / "b", tls=False, **env) as second,
    ):

        def one(n: int) -> int:
            server = (first, second)[n % 2]
            return httpx.get(
                f"{server.url}{URL}/{token.public_id}",
                headers={
                    "Authorization": f"Bearer {value}",
                    "X-Forwarded-Proto": "https",
                    "X-Forwarded-For": addresses[n % 3],
                },
            ).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(one, range(1000)))
    minutes = (datetime.now(UTC) - started).total_seconds() / 60
    print(f"two nodes: {Counter(statuses)} in {minutes * 60:.1f} s")
    assert statuses == [200] * 1000
    usage.reset()  # this process reads the shared buffer (REDIS_URL is the servers')
    usage.flush_all()
    row = TokenDailyUsage.objects.get(token=token)
    print(f"flushed: {row.requests} requests in {row.flushes} flushes")
    assert row.requests == 1000
    # The servers flushed at most once a minute (the first request's stale lastAccessAt, then
    # each further minute), plus the flush above.
    assert row.flushes <= int(minutes) + 2
    recent = {a.ip for a in TokenAddress.objects.filter(token=token)}
    assert recent == {"198.51.100.1", "198.51.100.2", "2001:db8::3"}
    assert AuditRecord.objects.filter(event_key=NEW_IP, object_id=token.public_id).count() == 3
