"""Every sort and filter of the token list, and the audit trail's filters, cost a fixed number
of queries however many rows there are (issue 5; the benchmark measures their time)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, User
from apitokens import services
from audit.types import Actor
from tests.factories import TokenFactory
from tests.ui.conftest import sign_in

LIST_QUERIES = [
    "?sort=name",
    "?sort=-id",
    "?sort=modules",
    "?sort=-created_by",
    "?sort=last_access",
    "?sort=-status",
    "?status=Active&sort=-created",
    "?q=robot&per_page=25",
    "?per_page=10&page=2",
]


def count(client: Client, url: str) -> int:
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("query", LIST_QUERIES)
def test_every_sort_and_filter_of_the_list_costs_the_same_queries(
    client: Client, alice: User, acme: Account, query: str
) -> None:
    sign_in(client, alice)
    url = f"/settings/api-tokens/{query}"
    for n in range(12):
        TokenFactory(account=acme, name=f"Robot {n}", modules=["MOD-1756"])
    few = count(client, url)
    for n in range(12, 30):
        TokenFactory(account=acme, name=f"Robot {n}", modules=["MOD-1756", "MOD-4525"])
    assert count(client, url) == few


@pytest.mark.parametrize("tab", ["", "modules/", "details/", "audit/"])
def test_tabs_cost_the_same_for_one_module_and_for_several(
    client: Client, alice: User, acme: Account, tab: str
) -> None:
    sign_in(client, alice)
    one = TokenFactory(account=acme, name="One", modules=["MOD-1756"])
    several = TokenFactory(
        account=acme, name="Several", modules=["MOD-1756", "MOD-4525", "MOD-1425"]
    )
    assert count(client, f"/settings/api-tokens/{one.public_id}/{tab}") == count(
        client, f"/settings/api-tokens/{several.public_id}/{tab}"
    )


@pytest.mark.parametrize("param", ["object", "actor", "event"])
def test_audit_filters_cost_the_same_for_few_records_and_many(
    client: Client, alice: User, acme: Account, param: str
) -> None:
    sign_in(client, alice)
    token = TokenFactory(account=acme, name="Busy")
    value = {
        "object": token.public_id,
        "actor": "SYSTEM",
        "event": services.EVENT_STATUS_CHANGED,
    }[param]
    url = f"/settings/audit-trail/?{param}={value}"
    services.disable_token(token=token, actor=Actor.system())
    few = count(client, url)
    for _ in range(20):
        services.enable_token(token=token, actor=Actor.system())
        services.disable_token(token=token, actor=Actor.system())
    assert count(client, url) == few


def test_sorting_by_modules_puts_tokens_without_any_first(
    client: Client, alice: User, acme: Account
) -> None:
    sign_in(client, alice)
    TokenFactory(account=acme, name="Two", modules=["MOD-1756", "MOD-4525"])
    TokenFactory(account=acme, name="None")
    TokenFactory(account=acme, name="One", modules=["MOD-1756"])
    body = client.get("/settings/api-tokens/?sort=modules").content.decode()
    assert body.index(">None<") < body.index(">One<") < body.index(">Two<")
    body = client.get("/settings/api-tokens/?sort=-modules").content.decode()
    assert body.index(">Two<") < body.index(">One<") < body.index(">None<")
