"""Allowed IPs in the pages (issue 17): the details page's General tab lists them, the Edit
dialog edits them one a line with an error naming the line, and a form without the field (an
old tab) never clears them."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import Account, User
from apitokens.models import ApiToken, TokenAddress
from audit.models import AuditRecord
from tests.factories import TokenFactory
from tests.ui.conftest import sign_in

pytestmark = pytest.mark.django_db


def edit_url(token: ApiToken) -> str:
    return f"/settings/api-tokens/{token.public_id}/edit/"


def test_details_list_the_ranges_or_say_any_address(
    client: Client, alice: User, acme: Account
) -> None:
    open_token = TokenFactory(account=acme, name="Open robot")
    fenced = TokenFactory(
        account=acme, name="Fenced robot", allowed_ips=["198.51.100.0/24", "2001:db8::/32"]
    )
    sign_in(client, alice)
    shown = client.get(f"/settings/api-tokens/{open_token.public_id}/").content.decode()
    assert re.search(r"<dt>Allowed IPs</dt>\s*<dd>Any address</dd>", shown)
    fenced_page = client.get(f"/settings/api-tokens/{fenced.public_id}/").content.decode()
    assert '<span class="mono ip-range">198.51.100.0/24</span><br>' in fenced_page
    assert '<span class="mono ip-range">2001:db8::/32</span>' in fenced_page


def test_edit_saves_one_range_a_line(client: Client, alice: User, acme: Account) -> None:
    token = TokenFactory(account=acme, name="CRM robot", allowed_ips=["198.51.100.0/24"])
    sign_in(client, alice)
    form = client.get(edit_url(token)).content.decode()
    assert re.search(r'<textarea name="allowed_ips"[^>]*>\s*198.51.100.0/24</textarea>', form)
    saved = client.post(
        edit_url(token),
        {"name": "CRM robot", "allowed_ips": "203.0.113.7\r\n\r\n 2001:db8::/48 \r\n"},
    )
    assert saved.status_code == 302
    token.refresh_from_db()
    assert token.allowed_ips == "203.0.113.7/32 2001:db8::/48"
    update = AuditRecord.objects.get(event_key="platform.accounts.api_token.updated")
    assert set(update.documents["changes"]) == {"allowed_ips"}


def test_edit_names_the_bad_line_and_keeps_what_was_typed(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, name="CRM robot")
    sign_in(client, alice)
    refused = client.post(
        edit_url(token),
        {"name": "CRM robot", "step": "modules", "allowed_ips": "10.0.0.0/8\nten dot one"},
    )
    body = refused.content.decode()
    assert refused.status_code == 400
    assert "Line 2 (&#x27;ten dot one&#x27;) is not an IP address or CIDR range." in body
    assert re.search(r'id="edit-tab-general"[^>]*checked', body)
    assert "ten dot one</textarea>" in body
    token.refresh_from_db()
    assert token.allowed_ips == ""


def test_a_form_without_the_field_keeps_the_list(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, name="CRM robot", allowed_ips=["198.51.100.0/24"])
    sign_in(client, alice)
    assert client.post(edit_url(token), {"name": "CRM robot 2"}).status_code == 302
    token.refresh_from_db()
    assert (token.name, token.allowed_ips) == ("CRM robot 2", "198.51.100.0/24")


def test_the_add_wizard_has_no_allowlist_field(client: Client, alice: User) -> None:
    sign_in(client, alice)
    assert 'name="allowed_ips"' not in client.get("/settings/api-tokens/add/").content.decode()


# --- usage (issue 17) ---------------------------------------------------------------------


def test_the_usage_tab_draws_30_days_as_svg_with_words_and_a_table(
    client: Client, alice: User, acme: Account
) -> None:
    from datetime import UTC

    from django.utils import timezone

    from apitokens import usage

    token = TokenFactory(account=acme, name="Busy robot")
    now = timezone.now()
    for _ in range(7):
        usage.buffer().note(token.pk, "198.51.100.4", "crm/2", now, refused=False)
    usage.buffer().note(token.pk, "", "", now, refused=True)
    usage.flush(token.pk)
    TokenAddress.objects.get_or_create(
        token=token, ip="198.51.100.4", defaults={"first_seen": now, "last_seen": now}
    )
    sign_in(client, alice)
    page = client.get(f"/settings/api-tokens/{token.public_id}/usage/")
    body = page.content.decode()
    assert page.status_code == 200
    assert 'role="img"' in body
    assert body.count('class="bar-requests"') == 30
    assert body.count('class="bar-refused"') == 1
    today = now.astimezone(UTC)
    assert "7 requests and 1 refused attempts from" in body
    assert f"the busiest day was {today:%d %b} with 7" in body
    assert (
        f'<th scope="row">{today:%a, %d %b %Y}</th>'
        '<td data-label="Requests">7</td><td data-label="Refused">1</td>'
    ) in body
    assert '<td class="mono" data-label="Address">198.51.100.4</td>' in body
    tab = client.get(
        f"/settings/api-tokens/{token.public_id}/usage/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="tab-panel",
    ).content.decode()
    assert "<html" not in tab
    assert 'role="img"' in tab


def test_general_says_where_it_was_last_used_and_the_list_shows_the_address(
    client: Client, alice: User, acme: Account
) -> None:
    from django.utils import timezone

    token = TokenFactory(account=acme, name="Seen robot")
    ApiToken.objects.filter(pk=token.pk).update(
        last_access_at=timezone.now(), last_access_ip="203.0.113.5", last_access_user_agent="bot/9"
    )
    sign_in(client, alice)
    general = client.get(f"/settings/api-tokens/{token.public_id}/").content.decode()
    assert re.search(
        r'from <span class="mono">203\.0\.113\.5</span><div class="muted ua">bot/9', general
    )
    listed = client.get("/settings/api-tokens/").content.decode()
    assert '<span class="muted mono last-ip">203.0.113.5</span>' in listed
