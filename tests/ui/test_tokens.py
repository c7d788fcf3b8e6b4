"""The API tokens list and the row actions."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, User
from audit.models import AuditRecord
from tests.factories import TokenFactory
from tests.ui.conftest import htmx, sign_in


def test_it_lists_tokens_with_every_column(client: Client, alice: User, acme: Account) -> None:
    one = TokenFactory(account=acme, name="CRM robot", modules=["MOD-1756"])
    two = TokenFactory(
        account=acme, name="Billing bot", modules=["MOD-1756", "MOD-4525"], disabled=True
    )
    sign_in(client, alice)
    response = client.get("/settings/api-tokens/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<h1>API tokens</h1>" in body
    assert ">Add</a>" in body
    for header in ("API token", "Modules", "Created by", "Date created", "Last access", "Status"):
        assert header in body
    assert f'id="token-{one.public_id}"' in body
    assert one.public_id in body
    assert "Access Management" in body
    assert "2 modules" in body
    assert "badge-disabled" in body
    assert two.public_id in body
    assert "Rows per page" in body
    assert "Page 1 of 1" in body
    assert "1–2 of 2 rows" in body
    assert "—" in body  # never accessed
    assert response["Vary"].count("HX-Request") == 1


def test_it_hides_deleted_tokens_from_client_administrators(
    client: Client, alice: User, acme: Account
) -> None:
    gone = TokenFactory(account=acme, deleted=True)
    sign_in(client, alice)
    assert gone.public_id not in client.get("/settings/api-tokens/").content.decode()
    assert client.get(f"/settings/api-tokens/{gone.public_id}/").status_code == 404


def test_it_shows_deleted_tokens_marked_and_read_only_to_operators(
    client: Client, olivia: User, acme: Account
) -> None:
    gone = TokenFactory(account=acme, deleted=True)
    sign_in(client, olivia, account=acme.public_id)
    body = client.get("/settings/api-tokens/").content.decode()
    assert gone.public_id in body
    assert "badge-deleted" in body
    assert "is-deleted" in body
    details = client.get(f"/settings/api-tokens/{gone.public_id}/").content.decode()
    assert "Deleted: read-only." in details
    assert f"/settings/api-tokens/{gone.public_id}/edit/" not in details


def test_it_searches_filters_sorts_and_pages_from_the_query_string(
    client: Client, alice: User, acme: Account
) -> None:
    for n in range(12):
        TokenFactory(account=acme, name=f"Robot {n:02d}")
    special = TokenFactory(account=acme, name="Zeta export", disabled=True)
    sign_in(client, alice)
    body = client.get("/settings/api-tokens/?q=zeta").content.decode()
    assert special.public_id in body
    assert "1–1 of 1 rows" in body
    body = client.get(f"/settings/api-tokens/?q={special.public_id}").content.decode()
    assert "1–1 of 1 rows" in body
    body = client.get("/settings/api-tokens/?status=Disabled").content.decode()
    assert "1–1 of 1 rows" in body
    body = client.get("/settings/api-tokens/?sort=name&per_page=10&page=2").content.decode()
    assert "Page 2 of 2" in body
    assert "11–13 of 13 rows" in body
    assert "Zeta export" in body
    body = client.get("/settings/api-tokens/?sort=-name").content.decode()
    assert body.index("Zeta export") < body.index("Robot 11")
    body = client.get("/settings/api-tokens/?sort=modules&per_page=25").content.decode()
    assert "1–13 of 13 rows" in body


def test_it_answers_htmx_with_only_the_table(client: Client, alice: User, acme: Account) -> None:
    TokenFactory(account=acme)
    sign_in(client, alice)
    response = client.get("/settings/api-tokens/?q=Robot", **htmx(hx_target="token-table"))
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="token-table"')
    assert "<html" not in body


@pytest.mark.parametrize("tokens", [5, 30])
def test_it_lists_with_a_constant_number_of_queries(
    client: Client, alice: User, acme: Account, tokens: int
) -> None:
    for n in range(tokens):
        TokenFactory(account=acme, modules=["MOD-1756", "MOD-4525"] if n % 2 else ["MOD-1756"])
    sign_in(client, alice)
    client.get("/settings/api-tokens/?per_page=50")  # warm up the session
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/settings/api-tokens/?per_page=50")
    assert response.status_code == 200
    assert response.content.decode().count('id="token-TKN-') == tokens
    assert len(captured) <= 9, [q["sql"] for q in captured]


def _query_count(client: Client, acme: Account, tokens: int) -> int:
    for _ in range(tokens):
        TokenFactory(account=acme, modules=["MOD-1756"])
    client.get("/settings/api-tokens/?per_page=50")
    with CaptureQueriesContext(connection) as captured:
        client.get("/settings/api-tokens/?per_page=50")
    return len(captured)


def test_it_does_not_grow_queries_with_tokens(client: Client, alice: User, acme: Account) -> None:
    sign_in(client, alice)
    few = _query_count(client, acme, 5)
    many = _query_count(client, acme, 25)
    assert few == many


@pytest.mark.parametrize(
    ("action", "before", "after"),
    [
        ("disable", {}, "Disabled"),
        ("enable", {"disabled": True}, "Active"),
        ("delete", {}, "Deleted"),
    ],
)
def test_it_changes_status_with_a_full_page_post(
    client: Client, alice: User, acme: Account, action: str, before: dict[str, bool], after: str
) -> None:
    token = TokenFactory(account=acme, **before)
    sign_in(client, alice)
    confirm = client.get(f"/settings/api-tokens/{token.public_id}/{action}/")
    assert confirm.status_code == 200
    if action == "delete":
        assert "Delete API token" in confirm.content.decode()
        assert "cannot be undone" in confirm.content.decode()
    response = client.post(
        f"/settings/api-tokens/{token.public_id}/{action}/", {"next": "/settings/api-tokens/?q=x"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/settings/api-tokens/?q=x"
    token.refresh_from_db()
    assert token.status == after
    entry = AuditRecord.objects.filter(
        object_id=token.public_id, event_key="platform.accounts.api_token.status_changed"
    ).latest("id")
    assert entry.actor_id == alice.public_id
    assert entry.documents["status"]["to"] == after
    page = client.get("/settings/api-tokens/?q=x").content.decode()
    assert "has been" in page  # the message


def test_it_swaps_the_row_for_htmx(client: Client, alice: User, acme: Account) -> None:
    token = TokenFactory(account=acme)
    sign_in(client, alice)
    dialog = client.get(f"/settings/api-tokens/{token.public_id}/disable/", **htmx())
    assert "<html" not in dialog.content.decode()
    assert f'hx-target="#token-{token.public_id}"' in dialog.content.decode()
    response = client.post(f"/settings/api-tokens/{token.public_id}/disable/", **htmx())
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tr id="token-{token.public_id}"')
    assert "badge-disabled" in body
    assert "ui:message" in response["HX-Trigger"]
    assert "HX-Request" in response["Vary"]


def test_it_removes_the_row_of_a_deleted_token_for_htmx(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme)
    sign_in(client, alice)
    response = client.post(f"/settings/api-tokens/{token.public_id}/delete/", **htmx())
    assert response.status_code == 200
    assert response.content.decode() == ""


def test_it_turns_a_concurrent_change_into_a_message(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, disabled=True)  # someone disabled it meanwhile
    sign_in(client, alice)
    response = client.post(f"/settings/api-tokens/{token.public_id}/disable/", **htmx())
    assert response.status_code == 200
    assert "cannot be disabled" in response["HX-Trigger"]
    page = client.post(f"/settings/api-tokens/{token.public_id}/disable/", follow=True)
    assert page.status_code == 200
    assert "cannot be disabled: its status is Disabled" in page.content.decode()


def test_it_lets_an_operator_act_as_themselves(client: Client, olivia: User, acme: Account) -> None:
    token = TokenFactory(account=acme)
    sign_in(client, olivia, account=acme.public_id)
    client.post(f"/settings/api-tokens/{token.public_id}/disable/")
    entry = AuditRecord.objects.filter(object_id=token.public_id).latest("id")
    assert entry.actor_id == olivia.public_id
    assert entry.account_id == acme.public_id


def test_it_redirects_details_actions_back_to_details_for_htmx(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme)
    sign_in(client, alice)
    response = client.post(
        f"/settings/api-tokens/{token.public_id}/disable/", {"origin": "details"}, **htmx()
    )
    assert response["HX-Redirect"] == f"/settings/api-tokens/{token.public_id}/"


# --- Expiry on the list (issue 16) ---------------------------------------------------------


def _expiring(token, delta) -> None:
    from django.utils import timezone

    from apitokens.models import ApiToken

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + delta)


def test_the_list_shows_expiry_marks_expired_rows_and_names_them_in_a_banner(
    client: Client, alice: User, acme: Account
) -> None:
    from datetime import timedelta

    soon = TokenFactory(account=acme, name="Release bot")
    gone = TokenFactory(account=acme, name="Old feed")
    later = TokenFactory(account=acme, name="Quarterly export")
    TokenFactory(account=acme, name="Forever robot")
    _expiring(soon, timedelta(days=5, hours=1))
    _expiring(gone, -timedelta(hours=2))
    _expiring(later, timedelta(days=40))
    sign_in(client, alice)
    body = client.get("/settings/api-tokens/").content.decode()
    assert "Expires" in body
    assert ">in 5 days</time>" in body
    assert ">Expired</time>" in body
    assert ">in 40 days</time>" in body
    assert ">Never<" in body or "Never</td>" in body
    assert f'<tr id="token-{gone.public_id}" class="is-expired">' in body
    assert '<span class="badge badge-expired">Expired</span>' in body
    banner = body.split('class="banner banner-warning"', 1)[1].split("</div>", 1)[0]
    assert "2 API tokens have expired or expire within 7 days" in banner
    assert "Old feed" in banner
    assert "Release bot" in banner
    assert "Quarterly export" not in banner


def test_the_status_filter_and_the_expires_sort_know_expiry(
    client: Client, alice: User, acme: Account
) -> None:
    from datetime import timedelta

    gone = TokenFactory(account=acme, name="Old feed")
    soon = TokenFactory(account=acme, name="Release bot")
    TokenFactory(account=acme, name="Forever robot")
    _expiring(gone, -timedelta(hours=2))
    _expiring(soon, timedelta(days=2))
    sign_in(client, alice)

    def table_of(url: str) -> str:
        return client.get(url).content.decode().split('<table class="table tokens">', 1)[1]

    expired = table_of("/settings/api-tokens/?status=Expired")
    assert "Old feed" in expired
    assert "Release bot" not in expired
    active = table_of("/settings/api-tokens/?status=Active")
    assert "Old feed" not in active
    assert "Release bot" in active
    order = client.get("/settings/api-tokens/?sort=expires").content.decode()
    table = order.split('<table class="table tokens">', 1)[1]
    positions = [table.index(name) for name in ("Old feed", "Release bot", "Forever robot")]
    assert positions == sorted(positions)  # soonest first, never last
    reverse = client.get("/settings/api-tokens/?sort=-expires").content.decode()
    table = reverse.split('<table class="table tokens">', 1)[1]
    positions = [table.index(name) for name in ("Forever robot", "Release bot", "Old feed")]
    assert positions == sorted(positions)
