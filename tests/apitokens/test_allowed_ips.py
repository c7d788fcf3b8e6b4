"""IP allowlists (issue 17): ``allowedIps`` in the API, ranges checked in memory on the Bearer
path, a 403 naming the address from outside them, one ``blocked_ip`` record per token, address
and hour; the same against a real gunicorn behind a trusted proxy hop (X-Forwarded-For), where a
forged X-Forwarded-For from an untrusted peer changes nothing."""

from __future__ import annotations

import ssl
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from accounts.models import Account
from apitokens import blocking, middleware, networks, services
from apitokens.models import ApiToken, BlockedUse
from audit.models import AuditRecord
from audit.types import Actor
from tests.apitokens.test_api import Api
from tests.factories import TokenFactory
from tests.live import live_server

URL = "/public/v1/accounts/api-tokens"
BLOCKED = blocking.EVENT_BLOCKED_IP


@pytest.fixture(autouse=True)
def _fresh() -> None:
    cache.clear()
    middleware.auth_failures.forget()


def fenced(acme: Account, *ranges: str) -> ApiToken:
    return TokenFactory(
        account=acme, name="Fenced robot", modules=["MOD-1756"], allowed_ips=list(ranges)
    )


def call_from(client: Client, token: ApiToken, ip: str) -> object:
    value = token.plain_value  # type: ignore[attr-defined]
    return client.get(
        f"{URL}/{token.public_id}",
        secure=True,
        HTTP_AUTHORIZATION=f"Bearer {value}",
        REMOTE_ADDR=ip,
    )


# --- the ranges ---------------------------------------------------------------------------


def test_ranges_are_normalised_in_order_without_repeats() -> None:
    given = [" 10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "2001:DB8::1", "10.0.0.0/8"]
    assert networks.normalise(given) == [
        "10.0.0.0/8",
        "192.0.2.7/32",
        "2001:db8::/32",
        "2001:db8::1/128",
    ]


def test_every_bad_entry_is_named() -> None:
    with pytest.raises(networks.RangesRefused) as refused:
        networks.normalise(["10.0.0.0/8", "10.0.0.300", "", "192.168.1.5/24", "x" * 300])
    assert refused.value.problems == [
        "Entry 2 ('10.0.0.300') is not an IP address or CIDR range.",
        "Entry 3 is empty.",
        "Entry 4 ('192.168.1.5/24') has host bits set: did you mean '192.168.1.0/24'?",
        f"Entry 5 ('{'x' * 64}…') is not an IP address or CIDR range.",
    ]
    with pytest.raises(networks.RangesRefused) as too_many:
        networks.normalise([f"10.0.{n}.0/24" for n in range(51)])
    assert too_many.value.problems == ["At most 50 ranges; 51 were given."]


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("198.51.100.7", True),
        ("198.51.100.255", True),
        ("198.51.101.1", False),
        ("::ffff:198.51.100.7", True),  # an IPv4 client seen through a dual-stack socket
        ("2001:db8:0:1::9", True),
        ("2001:db9::1", False),
        ("not an address", False),
        ("", False),
    ],
)
def test_an_address_is_tested_against_the_ranges(ip: str, allowed: bool) -> None:
    text = networks.stored(networks.normalise(["198.51.100.0/24", "2001:db8::/48"]))
    assert networks.allows(text, ip) is allowed
    assert networks.allows("", ip) is True  # no list: any address


# --- the API ------------------------------------------------------------------------------


def test_the_api_sets_shows_and_changes_the_allowlist(api: Api) -> None:
    created = api.send(
        "post", URL, {"name": "Fenced", "allowedIps": ["203.0.113.0/24", "2001:db8::1"]}
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["allowedIps"] == ["203.0.113.0/24", "2001:db8::1/128"]
    token_url = f"{URL}/{body['id']}"
    assert api.get(token_url).json()["allowedIps"] == ["203.0.113.0/24", "2001:db8::1/128"]
    plain = api.send("post", URL, {"name": "Open"}).json()
    assert plain["allowedIps"] == []
    changed = api.send("put", token_url, {"allowedIps": ["192.0.2.0/28"]})
    assert changed.status_code == 200
    assert changed.json()["allowedIps"] == ["192.0.2.0/28"]
    update = AuditRecord.objects.filter(
        object_id=body["id"], event_key="platform.accounts.api_token.updated"
    ).get()
    assert update.documents["changes"]["allowed_ips"] == {
        "before": ["203.0.113.0/24", "2001:db8::1/128"],
        "after": ["192.0.2.0/28"],
    }
    assert "Allowed IPs: 203.0.113.0/24, 2001:db8::1/128 → 192.0.2.0/28" in update.details
    cleared = api.send("put", token_url, {"allowedIps": []})
    assert cleared.json()["allowedIps"] == []


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (["10.0.0.0/8", "300.1.1.1"], "Entry 2 ('300.1.1.1') is not an IP address or CIDR range."),
        (["10.1.2.3/8"], "did you mean '10.0.0.0/8'?"),
        ([f"10.0.{n}.0/24" for n in range(51)], "At most 50 ranges"),
    ],
)
def test_bad_ranges_are_a_400_naming_the_entry(api: Api, sent: list[str], message: str) -> None:
    refused = api.send("post", URL, {"name": "Fenced", "allowedIps": sent})
    assert refused.status_code == 400
    assert any(message in m for m in refused.json()["errors"]["allowedIps"])
    assert not ApiToken.objects.filter(name="Fenced").exists()


@pytest.mark.parametrize("sent", ["10.0.0.0/8", [1], [None], {"a": 1}, None])
def test_a_wrongly_typed_allowlist_is_a_400(api: Api, sent: object) -> None:
    refused = api.send("post", URL, {"name": "Fenced", "allowedIps": sent})
    assert refused.status_code == 400
    assert "allowedIps" in str(refused.json()["errors"])


# --- the Bearer path ----------------------------------------------------------------------


def test_a_token_works_only_from_its_ranges(client: Client, acme: Account) -> None:
    token = fenced(acme, "198.51.100.0/24", "2001:db8::/32")
    assert call_from(client, token, "198.51.100.20").status_code == 200
    assert call_from(client, token, "2001:db8::5").status_code == 200
    refused = call_from(client, token, "203.0.113.9")
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["detail"] == "This API token cannot be used from 203.0.113.9."
    assert problem["type"].endswith("/ip-not-allowed")
    assert token.plain_value not in refused.content.decode()  # type: ignore[attr-defined]
    assert call_from(client, token, "2001:db9::5").status_code == 403


def test_a_block_is_recorded_once_per_token_address_and_hour(client: Client, acme: Account) -> None:
    token = fenced(acme, "198.51.100.0/24")
    for _ in range(5):
        assert call_from(client, token, "203.0.113.9").status_code == 403
    call_from(client, token, "203.0.113.10")
    records = AuditRecord.objects.filter(event_key=BLOCKED, object_id=token.public_id)
    assert sorted(r.documents["ip"] for r in records) == ["203.0.113.10", "203.0.113.9"]
    [first] = [r for r in records if r.documents["ip"] == "203.0.113.9"]
    assert first.request_ip == "203.0.113.9"
    assert "outside its allowed IP ranges (198.51.100.0/24)" in first.details
    # Another process (this one forgot) in the same hour writes nothing; the next hour does.
    blocking.forget()
    now = timezone.now()
    assert blocking.record_blocked_use(token.pk, "203.0.113.9", now=now) is False
    later = now + timedelta(hours=1)
    assert blocking.record_blocked_use(token.pk, "203.0.113.9", now=later) is True
    assert BlockedUse.objects.filter(token=token).count() == 3


def test_a_refused_address_is_not_an_authentication_failure(client: Client, acme: Account) -> None:
    # The secret was right: the address limiter (for guessing) is not involved.
    token = fenced(acme, "198.51.100.0/24")
    for _ in range(3):
        call_from(client, token, "203.0.113.9")
    assert middleware.auth_failures.unsuspected("203.0.113.9")


def test_removing_the_list_lets_every_address_in(client: Client, acme: Account) -> None:
    token = fenced(acme, "198.51.100.0/24")
    assert call_from(client, token, "203.0.113.9").status_code == 403
    services.update_token(token=token, allowed_ips=[], actor=Actor.system())
    assert call_from(client, token, "203.0.113.9").status_code == 200


# --- a real server behind a proxy hop -----------------------------------------------------


def _get(server_url: str, token: ApiToken, headers: dict[str, str]) -> httpx.Response:
    value = token.plain_value  # type: ignore[attr-defined]
    return httpx.get(
        f"{server_url}{URL}/{token.public_id}",
        headers={"Authorization": f"Bearer {value}", "X-Forwarded-Proto": "https", **headers},
    )


@pytest.mark.django_db(transaction=True)
def test_behind_a_trusted_proxy_the_forwarded_client_is_fenced(
    tmp_path: Path, acme: Account
) -> None:
    token = fenced(acme, "198.51.100.0/24", "2001:db8::/32")
    with live_server(tmp_path, tls=False, TRUSTED_PROXY="127.0.0.1") as server:
        inside = _get(server.url, token, {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"})
        outside = _get(server.url, token, {"X-Forwarded-For": "198.51.100.7, 203.0.113.50"})
        inside_v6 = _get(server.url, token, {"X-Forwarded-For": "2001:db8::42"})
    print(f"trusted proxy: {inside.status_code} {outside.status_code} {inside_v6.status_code}")
    assert inside.status_code == 200, inside.text
    assert inside_v6.status_code == 200, inside_v6.text
    assert outside.status_code == 403
    assert outside.json()["detail"] == "This API token cannot be used from 203.0.113.50."


@pytest.mark.django_db(transaction=True)
def test_a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing(
    tmp_path: Path, acme: Account
) -> None:
    token = fenced(acme, "198.51.100.0/24")
    value = token.plain_value  # type: ignore[attr-defined]
    # HTTPS straight to gunicorn, no proxy trusted: the peer (127.0.0.1) is the client, and
    # the X-Forwarded-For it writes, inside the list, is not believed.
    with live_server(tmp_path, TRUSTED_PROXY="") as server:
        forged = httpx.get(
            f"{server.url}{URL}/{token.public_id}",
            headers={"Authorization": f"Bearer {value}", "X-Forwarded-For": "198.51.100.7"},
            verify=ssl.create_default_context(cafile=str(server.cafile)),
        )
    assert forged.status_code == 403, forged.text
    assert forged.json()["detail"] == "This API token cannot be used from 127.0.0.1."
    [record] = AuditRecord.objects.filter(event_key=BLOCKED, object_id=token.public_id)
    assert record.documents["ip"] == "127.0.0.1"
