"""Issue 13 item 5: forwarded headers count only from the proxies TRUSTED_PROXY names.

``client_ip`` is the TCP peer unless that peer is a trusted proxy, and then the right-most
X-Forwarded-For entry that is not a proxy of ours; a forged X-Forwarded-Proto from anyone else
never makes a request secure. tests/security/test_forwarded_headers.py checks the same against
a real gunicorn."""

from __future__ import annotations

import ipaddress

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory, override_settings

from accounts.models import Account
from apitokens.models import ApiToken
from audit.models import AuditRecord
from tests.factories import TokenFactory
from tokens_admin.env import env_proxies
from tokens_admin.middleware import client_ip

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/64"))
SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
URL = "/public/v1/accounts/api-tokens"


@pytest.fixture
def robot(acme: Account) -> ApiToken:
    return TokenFactory(account=acme, name="Robot", modules=["MOD-1756"])


def ip_of(peer: str, forwarded: str | None = None) -> str:
    extra = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=peer, **extra))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ()),
        ("", ()),
        ("0", ()),
        ("1", LOOPBACK),  # what TRUSTED_PROXY=1 meant: a proxy on this host
        ("10.0.0.0/8, fd00::/64", PROXIES),
        ("192.0.2.10", (ipaddress.ip_network("192.0.2.10/32"),)),
        ("2001:db8::7", (ipaddress.ip_network("2001:db8::7/128"),)),
    ],
)
def test_it_reads_trusted_proxies(raw: str | None, expected: tuple[object, ...]) -> None:
    environ = {} if raw is None else {"TRUSTED_PROXY": raw}
    assert env_proxies("TRUSTED_PROXY", environ) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("true", "'true' does not appear to be an IPv4 or IPv6 network"),
        ("10.0.0.1/8", "10.0.0.1/8 has host bits set"),
        ("10.0.0.5,,10.0.0.6", "'' does not appear"),
        ("10.0.0.5;10.0.0.6", "does not appear"),
        ("*", "'*' does not appear"),
        ("0.0.0.0/0", "would trust every peer"),
        ("::/0", "would trust every peer"),
        ("300.1.2.3", "does not appear"),
    ],
)
def test_it_refuses_a_bad_proxy_entry_clearly(raw: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as refused:
        env_proxies("TRUSTED_PROXY", {"TRUSTED_PROXY": raw})
    assert str(refused.value).startswith("TRUSTED_PROXY")
    assert message in str(refused.value)


def test_a_forwarded_for_from_an_untrusted_peer_changes_nothing() -> None:
    for proxies in ((), PROXIES):  # no proxy configured, and a peer that is not one of them
        with override_settings(TRUSTED_PROXY=proxies):
            assert ip_of("203.0.113.9", "198.51.100.1") == "203.0.113.9"
            assert ip_of("203.0.113.9", "10.0.0.1, 198.51.100.1") == "203.0.113.9"
            assert ip_of("2001:db8::9", "198.51.100.1") == "2001:db8::9"


@override_settings(TRUSTED_PROXY=PROXIES)
def test_behind_trusted_proxies_it_is_the_right_most_entry_that_is_not_one_of_them() -> None:
    # The client may write anything left of what our proxy appends.
    assert ip_of("10.0.0.2", "1.1.1.1, 6.6.6.6 ,198.51.100.7") == "198.51.100.7"
    # client -> 10.1.1.1 (edge) -> 10.2.2.2 (internal) -> us: walked from the right.
    assert ip_of("10.2.2.2", "6.6.6.6, 198.51.100.7, 10.1.1.1") == "198.51.100.7"
    # Nothing but our proxies (or no header): the farthest one known.
    assert ip_of("10.2.2.2", "10.1.1.1, 10.3.3.3") == "10.1.1.1"
    assert ip_of("10.0.0.2") == "10.0.0.2"
    assert ip_of("10.0.0.2", "") == "10.0.0.2"


@override_settings(TRUSTED_PROXY=PROXIES)
def test_ipv6_peers_and_entries_are_understood() -> None:
    assert ip_of("fd00::2", "2001:db8::1, fd00::3") == "2001:db8::1"
    assert ip_of("fd00::2", "2001:DB8:0:0::1") == "2001:db8::1"  # one spelling per address
    # A dual-stack socket shows an IPv4 proxy as IPv4-mapped IPv6.
    assert ip_of("::ffff:10.0.0.2", "198.51.100.7") == "198.51.100.7"


@override_settings(TRUSTED_PROXY=PROXIES)
def test_a_malformed_entry_ends_the_walk_at_the_last_address_known_good() -> None:
    assert ip_of("10.0.0.2", "garbage") == "10.0.0.2"
    assert ip_of("10.0.0.2", "198.51.100.7, 10.1.1.1, <script>") == "10.0.0.2"
    assert ip_of("10.0.0.2", "198.51.100.7, not-an-ip, 10.1.1.1") == "10.1.1.1"
    assert ip_of("10.0.0.2", "198.51.100.7:4711") == "10.0.0.2"  # a port is not an address
    assert ip_of("10.0.0.2", "unknown, 198.51.100.7") == "198.51.100.7"
    assert ip_of("10.0.0.2", ",,,") == "10.0.0.2"


@override_settings(TRUSTED_PROXY=PROXIES)
def test_a_huge_forwarded_for_costs_a_bounded_walk() -> None:
    # 5,000 entries of our own network, then the client: only the last 16 are read.
    chain = ", ".join(["198.51.100.7"] + ["10.9.9.9"] * 5000)
    assert ip_of("10.0.0.2", chain) == "10.9.9.9"
    assert ip_of("10.0.0.2", "x" * 100_000) == "10.0.0.2"


def test_a_forged_forwarded_proto_from_an_untrusted_peer_is_plain_http(
    client: Client, robot: ApiToken
) -> None:
    # Even with Django told to read X-Forwarded-Proto, a peer that is not our proxy cannot
    # make its plain-HTTP request secure: 403, and the value it showed is recorded as exposed.
    with override_settings(TRUSTED_PROXY=PROXIES, SECURE_PROXY_SSL_HEADER=SSL_HEADER):
        response = client.get(
            URL,
            REMOTE_ADDR="203.0.113.9",
            HTTP_X_FORWARDED_PROTO="https",
            HTTP_AUTHORIZATION=f"Bearer {robot.plain_value}",  # type: ignore[attr-defined]
        )
    assert response.status_code == 403
    assert response.json()["type"].endswith("/https-required")
    exposed = AuditRecord.objects.get(object_id=robot.public_id, event_key__endswith=".exposed")
    assert exposed.request_ip == "203.0.113.9"


def test_a_trusted_proxy_decides_the_scheme_and_the_client_address(
    client: Client, robot: ApiToken
) -> None:
    with override_settings(TRUSTED_PROXY=PROXIES, SECURE_PROXY_SSL_HEADER=SSL_HEADER):
        secure = client.get(
            URL,
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_PROTO="https",
            HTTP_AUTHORIZATION=f"Bearer {robot.plain_value}",  # type: ignore[attr-defined]
        )
        plain = client.get(
            URL,
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_PROTO="http",
            HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7, 10.1.1.1",  # via two proxies
            HTTP_AUTHORIZATION=f"Bearer {robot.plain_value}",  # type: ignore[attr-defined]
        )
    assert secure.status_code == 200
    assert plain.status_code == 403
    exposed = AuditRecord.objects.get(object_id=robot.public_id, event_key__endswith=".exposed")
    assert exposed.request_ip == "198.51.100.7"
