"""Every admin URL, for every kind of visitor: anonymous (sign in), a Member (403), the
Administrator of another account (404 for Acme's objects), an operator (allowed)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import Account, User
from apitokens.models import ApiToken
from audit.models import AuditRecord
from tests.factories import AccountFactory, TokenFactory
from tests.ui.conftest import sign_in

GET_URLS = [
    "/settings/api-tokens/",
    "/settings/api-tokens/add/",
    "/settings/api-tokens/{token}/",
    "/settings/api-tokens/{token}/modules/",
    "/settings/api-tokens/{token}/details/",
    "/settings/api-tokens/{token}/audit/",
    "/settings/api-tokens/{token}/edit/",
    "/settings/api-tokens/{token}/disable/",
    "/settings/api-tokens/{token}/delete/",
    "/settings/audit-trail/",
    "/settings/audit-trail/{record}/",
    "/settings/audit-trail/download/?format=csv",
]
POST_URLS = [
    "/settings/api-tokens/{token}/disable/",
    "/settings/api-tokens/{token}/delete/",
    "/settings/api-tokens/{token}/reveal/",
    "/settings/api-tokens/{token}/edit/",
]
OBJECT_URLS = [u for u in GET_URLS if "{" in u]


@pytest.fixture
def token(acme: Account) -> ApiToken:
    return TokenFactory(account=acme, modules=["MOD-1756"])


def _fill(url: str, token: ApiToken) -> str:
    record = AuditRecord.objects.filter(object_id=token.public_id).first()
    assert record is not None
    return url.format(token=token.public_id, record=record.public_id)


@pytest.mark.parametrize("url", [*GET_URLS, "/account/pick/"])
def test_it_sends_anonymous_visitors_to_sign_in(client: Client, token: ApiToken, url: str) -> None:
    response = client.get(_fill(url, token))
    assert response.status_code == 302
    assert response["Location"].startswith("/signin/?next=")


@pytest.mark.parametrize("url", GET_URLS)
def test_it_refuses_members_with_a_403_page(
    client: Client, bob: User, token: ApiToken, url: str
) -> None:
    sign_in(client, bob)
    response = client.get(_fill(url, token))
    assert response.status_code == 403
    assert "Only Administrators of Acme" in response.content.decode()


@pytest.mark.parametrize("url", POST_URLS)
def test_it_refuses_posts_from_members(
    client: Client, bob: User, token: ApiToken, url: str
) -> None:
    sign_in(client, bob)
    assert client.post(_fill(url, token)).status_code == 403
    token.refresh_from_db()
    assert token.status == "Active"


@pytest.mark.parametrize("url", OBJECT_URLS)
def test_it_hides_acme_objects_from_the_administrator_of_another_account(
    client: Client, charlie: User, token: ApiToken, url: str
) -> None:
    sign_in(client, charlie)
    assert client.get(_fill(url, token)).status_code == 404


@pytest.mark.parametrize("url", POST_URLS)
def test_it_refuses_posts_on_acme_objects_from_another_account(
    client: Client, charlie: User, token: ApiToken, url: str
) -> None:
    sign_in(client, charlie)
    assert client.post(_fill(url, token)).status_code == 404
    token.refresh_from_db()
    assert token.status == "Active"


@pytest.mark.parametrize("url", GET_URLS)
def test_it_lets_administrators_in(client: Client, alice: User, token: ApiToken, url: str) -> None:
    sign_in(client, alice)
    assert client.get(_fill(url, token)).status_code == 200


@pytest.mark.parametrize("url", GET_URLS)
def test_it_lets_an_operator_act_on_any_account(
    client: Client, olivia: User, acme: Account, token: ApiToken, url: str
) -> None:
    sign_in(client, olivia, account=acme.public_id)
    assert client.get(_fill(url, token)).status_code == 200


def test_it_does_not_let_an_administrator_of_another_account_choose_acme_by_session(
    client: Client, charlie: User, acme: Account, token: ApiToken
) -> None:
    sign_in(client, charlie, account=acme.public_id)
    response = client.get("/settings/api-tokens/")
    assert response.status_code == 200
    assert token.public_id not in response.content.decode()


@pytest.mark.parametrize("url", POST_URLS)
def test_it_enforces_csrf_on_every_post(alice: User, token: ApiToken, url: str) -> None:
    from tests.ui.conftest import SecureClient

    strict = sign_in(SecureClient(enforce_csrf_checks=True), alice)
    assert strict.post(_fill(url, token)).status_code == 403
    token.refresh_from_db()
    assert token.status == "Active"
    assert not AuditRecord.objects.filter(event_key__endswith="value_revealed").exists()


def test_it_serves_404_and_403_pages_of_our_own(client: Client, bob: User) -> None:
    sign_in(client, bob)
    missing = client.get("/settings/api-tokens/TKN-0000-0000/")
    assert missing.status_code == 403  # a Member never learns whether an id exists
    assert "You do not have access to this page" in missing.content.decode()


# --- Issue 15, item 1: what a Member is shown ------------------------------------------------


def _links(page: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', page)


def test_a_members_access_page_says_what_they_may_do_and_whom_to_ask(
    client: Client, bob: User, alice: User, acme: Account
) -> None:
    AccountFactory(name="Elsewhere")  # an Administrator of another account is not named
    sign_in(client, bob)
    response = client.get("/account/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your access to Acme" in page
    assert "a Member of <strong>Acme</strong>" in page
    assert "you cannot see or change them" in page
    assert "Alice Admin" in page
    assert (
        'href="mailto:alice@acme.test?subject=Access%20to%20the%20API%20tokens%20of%20Acme"' in page
    )
    assert "Bob Member</strong> (bob@acme.test)" in page
    assert not [link for link in _links(page) if link.startswith("/settings/")]


def test_a_member_is_shown_no_link_to_a_page_they_may_not_open(
    client: Client, bob: User, token: ApiToken
) -> None:
    sign_in(client, bob)
    for url in ("/account/", "/settings/api-tokens/", "/no/such/page/"):
        page = client.get(url).content.decode()
        header = page.split("</header>", 1)[0]
        assert "API tokens</a>" not in header, url
        assert "Pick account" not in header, url
        assert not [link for link in _links(page) if link.startswith("/settings/")], url
    forbidden = client.get("/settings/api-tokens/").content.decode()
    assert 'href="/account/">What you can do in Acme</a>' in forbidden


def test_the_header_offers_an_administrator_the_settings_pages(client: Client, alice: User) -> None:
    sign_in(client, alice)
    header = client.get("/account/").content.decode().split("</header>", 1)[0]
    assert 'href="/settings/api-tokens/"' in header
    assert 'href="/settings/audit-trail/"' in header
    assert "Pick account" not in header
    assert "an Administrator of <strong>Acme</strong>" in client.get("/account/").content.decode()


def test_the_header_offers_an_operator_the_account_picker(
    client: Client, olivia: User, acme: Account
) -> None:
    sign_in(client, olivia, account=acme.public_id)
    page = client.get("/account/").content.decode()
    header = page.split("</header>", 1)[0]
    assert 'href="/account/pick/"' in header
    assert 'href="/settings/api-tokens/"' in header
    # The account acted on is marked current in the account menu.
    assert re.search(r'aria-current="true"><span class="account-item-name">Acme<', header)
    assert "acting on Acme" in page


def test_the_account_picker_marks_the_current_account(
    client: Client, olivia: User, acme: Account, globex: Account
) -> None:
    sign_in(client, olivia, account=acme.public_id)
    page = client.get("/account/pick/").content.decode()
    rows = re.findall(r"<tr[^>]*>.*?</tr>", page, re.S)
    current = [row for row in rows if 'aria-current="true"' in row]
    assert len(current) == 1
    assert "<strong>Acme</strong>" in current[0]
    assert "Current" in current[0]
    assert "Act on" not in current[0]
    globex_row = next(row for row in rows if "<strong>Globex</strong>" in row)
    assert 'Act on<span class="visually-hidden"> Globex</span></button>' in globex_row
    assert "aria-label" not in globex_row
