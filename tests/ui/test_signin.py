from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client, override_settings

from accounts.models import Account, User
from audit.models import AuditRecord
from tests.factories import MembershipFactory
from tests.ui.conftest import SecureClient, sign_in

PASSWORD = "correct horse battery staple"


def test_it_shows_the_sign_in_form(client: Client, db: None) -> None:
    response = client.get("/signin/")
    assert response.status_code == 200
    body = response.content.decode()
    assert ">Email<" in body
    assert ">Password<" in body
    assert "Sign in</button>" in body
    assert response["Content-Security-Policy"].startswith("default-src 'self'")


def test_it_redirects_anonymous_users_to_sign_in(client: Client, db: None) -> None:
    response = client.get("/settings/api-tokens/")
    assert response.status_code == 302
    assert response["Location"] == "/signin/?next=/settings/api-tokens/"


def test_it_signs_in_and_records_it(client: Client, alice: User, acme: Account) -> None:
    response = client.post(
        "/signin/",
        {"email": "alice@acme.test", "password": PASSWORD, "next": "/settings/audit-trail/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/settings/audit-trail/"
    entry = AuditRecord.objects.get(event_key="platform.accounts.user.signed_in")
    assert entry.actor_id == alice.public_id
    assert entry.account_id == acme.public_id
    assert client.get("/settings/api-tokens/").status_code == 200


def test_it_refuses_a_wrong_password_and_records_it(client: Client, alice: User) -> None:
    response = client.post("/signin/", {"email": "alice@acme.test", "password": "nope"})
    assert response.status_code == 400
    assert "The email or password is not correct." in response.content.decode()
    entry = AuditRecord.objects.get(event_key="platform.accounts.user.sign_in_failed")
    assert entry.object_id == alice.public_id
    assert "nope" not in str(entry.documents) + entry.summary


def test_it_does_not_follow_next_to_another_site(client: Client, alice: User) -> None:
    response = client.post(
        "/signin/", {"email": "alice@acme.test", "password": PASSWORD, "next": "https://evil.test/"}
    )
    assert response["Location"] == "/settings/api-tokens/"


@override_settings(SIGNIN_FAILURE_LIMIT_EMAIL=3)
def test_it_rate_limits_failed_sign_ins_per_email(client: Client, alice: User) -> None:
    from accounts import ratelimit

    ratelimit.reset_for_tests()
    try:
        for _ in range(3):
            assert (
                client.post("/signin/", {"email": "alice@acme.test", "password": "x"}).status_code
                == 400
            )
        response = client.post("/signin/", {"email": "alice@acme.test", "password": PASSWORD})
        assert response.status_code == 429
        assert "Too many failed sign-in attempts" in response.content.decode()
        assert int(response["Retry-After"]) > 0
    finally:
        ratelimit.reset_for_tests()


@override_settings(SIGNIN_FAILURE_LIMIT_IP=2, SIGNIN_FAILURE_LIMIT_EMAIL=100)
def test_it_rate_limits_failed_sign_ins_per_address(client: Client, alice: User, bob: User) -> None:
    from accounts import ratelimit

    ratelimit.reset_for_tests()
    try:
        client.post("/signin/", {"email": "nobody@acme.test", "password": "x"})
        client.post("/signin/", {"email": "else@acme.test", "password": "x"})
        response = client.post("/signin/", {"email": "bob@acme.test", "password": PASSWORD})
        assert response.status_code == 429
    finally:
        ratelimit.reset_for_tests()


def test_it_signs_out_with_a_post_only(client: Client, alice: User) -> None:
    sign_in(client, alice)
    assert client.get("/signout/").status_code == 405
    response = client.post("/signout/")
    assert response.status_code == 302
    assert AuditRecord.objects.filter(event_key="platform.accounts.user.signed_out").count() == 1
    assert client.get("/settings/api-tokens/").status_code == 302


def test_it_enforces_csrf_on_sign_in_and_sign_out(alice: User) -> None:
    strict = SecureClient(enforce_csrf_checks=True)
    assert (
        strict.post("/signin/", {"email": "alice@acme.test", "password": PASSWORD}).status_code
        == 403
    )
    sign_in(strict, alice)
    assert strict.post("/signout/").status_code == 403


def test_it_switches_between_the_accounts_of_a_user(
    client: Client, alice: User, acme: Account, globex: Account
) -> None:
    MembershipFactory(user=alice, account=globex, role="Administrator")
    sign_in(client, alice, account=acme.public_id)
    page = client.get("/settings/api-tokens/").content.decode()
    assert 'name="account"' in page
    assert "Globex" in page
    response = client.post("/account/switch/", {"account": globex.public_id})
    assert response.status_code == 302
    assert client.session["ui_account"] == globex.public_id


def test_it_refuses_to_switch_to_an_account_of_someone_else(
    client: Client, alice: User, acme: Account, globex: Account
) -> None:
    sign_in(client, alice)
    client.post("/account/switch/", {"account": globex.public_id})
    assert client.session.get("ui_account") != globex.public_id


def test_it_lets_an_operator_pick_any_account(
    client: Client, olivia: User, acme: Account, globex: Account
) -> None:
    sign_in(client, olivia)
    page = client.get("/account/pick/?q=acm")
    assert page.status_code == 200
    assert acme.public_id in page.content.decode()
    assert globex.public_id not in page.content.decode()
    partial = client.get("/account/pick/?q=glob", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial
    assert globex.public_id in partial
    client.post("/account/switch/", {"account": acme.public_id})
    assert client.session["ui_account"] == acme.public_id
    assert "Operations view" in client.get("/settings/api-tokens/").content.decode()


@pytest.mark.parametrize("persona", ["alice", "bob", "charlie"])
def test_it_refuses_the_account_picker_to_non_operators(
    client: Client, persona: str, request: pytest.FixtureRequest
) -> None:
    sign_in(client, request.getfixturevalue(persona))
    response = client.get("/account/pick/")
    assert response.status_code == 403
    assert "403" in response.content.decode()


def test_an_htmx_request_without_a_session_goes_to_sign_in_as_a_whole_page(
    client: Client, db: None
) -> None:
    # Issue 15, item 4: not a 302 that htmx follows and swaps into the dialog.
    response = client.post(
        "/settings/api-tokens/add/",
        {"step": "general", "name": "Lost"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="https://testserver/settings/api-tokens/?status=Active&page=2",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == (
        "/signin/?next=%2Fsettings%2Fapi-tokens%2F%3Fstatus%3DActive%26page%3D2"
    )
    assert "HX-Request" in response["Vary"]
    assert b"<html" not in response.content


@pytest.mark.parametrize(
    "current", ["", "https://evil.test/settings/api-tokens/", "//evil.test/x", "not a url"]
)
def test_the_htmx_sign_in_redirect_never_leaves_the_site(
    client: Client, db: None, current: str
) -> None:
    headers = {"HTTP_HX_REQUEST": "true"}
    if current:
        headers["HTTP_HX_CURRENT_URL"] = current
    response = client.post("/settings/api-tokens/add/", {"step": "general"}, **headers)
    assert response["HX-Redirect"] == "/signin/"


def test_an_htmx_get_without_a_session_comes_back_to_the_dialogs_own_page(
    client: Client, db: None
) -> None:
    # Issue 15, item 4: the dialog asked for (every dialog URL is a page without JavaScript
    # too), not the list behind it.
    dialog = "/settings/api-tokens/TKN-1234-5678/edit/?origin=list&next=%2Fsettings%2Fapi-tokens%2F"
    response = client.get(
        dialog,
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="https://testserver/settings/api-tokens/",
    )
    assert response["HX-Redirect"] == f"/signin/?{urlencode({'next': dialog})}"


def test_an_htmx_fragment_without_a_page_of_its_own_comes_back_to_the_page_it_was_on(
    client: Client, db: None
) -> None:
    details = "https://testserver/settings/api-tokens/TKN-1234-5678/"
    response = client.get(
        "/settings/api-tokens/TKN-1234-5678/hide/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=details,
    )
    assert response["HX-Redirect"] == "/signin/?next=%2Fsettings%2Fapi-tokens%2FTKN-1234-5678%2F"


def test_a_post_that_lost_its_session_and_its_csrf_cookie_goes_to_sign_in(db: None) -> None:
    # The session and the CSRF cookie went together (cookies cleared, a dialog left open):
    # refused, but sent to sign in, not shown a 403 that reads like a missing permission.
    strict = SecureClient(enforce_csrf_checks=True)
    token = "/settings/api-tokens/TKN-1234-5678/disable/"
    response = strict.post(
        token,
        {"origin": "list"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="https://testserver/settings/api-tokens/?page=2",
    )
    assert response["HX-Redirect"] == "/signin/?next=%2Fsettings%2Fapi-tokens%2F%3Fpage%3D2"
    plain = strict.post(token, {"origin": "list"})
    assert plain.status_code == 302
    assert plain["Location"] == f"/signin/?next={token}"  # as login_required would send it


def test_a_signed_in_post_without_csrf_is_still_a_403(alice: User) -> None:
    strict = sign_in(SecureClient(enforce_csrf_checks=True), alice)
    response = strict.post("/settings/api-tokens/add/", {"step": "general"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert "HX-Redirect" not in response


def test_after_sign_in_the_user_is_back_on_the_page(client: Client, alice: User) -> None:
    response = client.post(
        "/signin/",
        {"email": "alice@acme.test", "password": PASSWORD, "next": "/settings/api-tokens/?page=2"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/settings/api-tokens/?page=2"


def test_a_page_without_htmx_still_redirects_with_302(client: Client, db: None) -> None:
    response = client.get("/settings/audit-trail/", HTTP_HX_CURRENT_URL="https://testserver/x")
    assert response.status_code == 302
    assert "HX-Redirect" not in response


def test_a_member_signs_in_to_the_page_that_says_what_they_may_do(
    client: Client, bob: User
) -> None:
    response = client.post("/signin/", {"email": "bob@acme.test", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/account/"
    # Signed in already: the sign-in page and the site's root send them there too.
    assert client.get("/signin/")["Location"] == "/account/"
    assert client.get("/")["Location"] == "/account/"


def test_an_administrator_signs_in_to_the_token_list(client: Client, alice: User) -> None:
    response = client.post("/signin/", {"email": "alice@acme.test", "password": PASSWORD})
    assert response["Location"] == "/settings/api-tokens/"
    assert client.get("/")["Location"] == "/settings/api-tokens/"


def test_the_root_sends_anonymous_visitors_to_sign_in(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/signin/?next=/"


def test_switching_to_an_account_where_the_user_is_a_member_lands_on_their_access_page(
    client: Client, alice: User, acme: Account, globex: Account
) -> None:
    MembershipFactory(user=alice, account=globex, role="Member")
    sign_in(client, alice, account=acme.public_id)
    response = client.post("/account/switch/", {"account": globex.public_id})
    assert response["Location"] == "/account/"
    response = client.post("/account/switch/", {"account": acme.public_id})
    assert response["Location"] == "/settings/api-tokens/"
