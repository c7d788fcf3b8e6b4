"""Rotate from the pages (issue 16): the dialog, the one-time new value, the rotation state on
the details page, and every way of asking twice."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import Account, User
from apitokens.models import ApiToken
from apitokens.secrets import parse_value
from audit.models import AuditRecord
from tests.factories import TokenFactory
from tests.ui.conftest import htmx, sign_in

VALUE_RE = re.compile(r'data-secret-value value="([^"]+)"')


def rotate_url(token: ApiToken) -> str:
    return f"/settings/api-tokens/{token.public_id}/rotate/"


def test_the_dialog_offers_the_grace_periods_with_24_hours_chosen(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, name="CRM robot")
    sign_in(client, alice)
    body = client.get(rotate_url(token), **htmx()).content.decode()
    for label in ("Immediately", "After 1 hour", "After 24 hours", "After 3 days", "After 7 days"):
        assert label in body
    assert re.search(r'value="86400" checked', body)
    page = client.get(rotate_url(token)).content.decode()  # without JavaScript: a page
    assert "<h1" in page
    assert "<!doctype html>" in page.lower()


def test_rotating_shows_the_new_value_once_and_the_old_one_keeps_working(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, name="CRM robot")
    sign_in(client, alice)
    posted = client.post(rotate_url(token), {"grace": "3600"})
    assert posted.status_code == 302
    assert posted["Location"] == f"/settings/api-tokens/{token.public_id}/rotated/"
    shown = client.get(posted["Location"])
    assert shown["Cache-Control"] == "no-store"
    found = VALUE_RE.search(shown.content.decode())
    assert found is not None
    value = found.group(1)
    assert parse_value(value) is not None
    assert value != token.plain_value
    assert "works until" in shown.content.decode()
    again = client.get(posted["Location"]).content.decode()
    assert VALUE_RE.search(again) is None
    assert "was already shown" in again
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.previous_value_valid
    assert (
        AuditRecord.objects.filter(
            object_id=token.public_id, event_key="platform.accounts.api_token.rotated"
        ).count()
        == 1
    )
    details = client.get(f"/settings/api-tokens/{token.public_id}/").content.decode()
    assert "The previous value works until" in details


def test_only_the_rotator_sees_the_value(client: Client, alice: User, acme: Account) -> None:
    token = TokenFactory(account=acme, name="CRM robot")
    sign_in(client, alice)
    posted = client.post(rotate_url(token), {"grace": "0"})
    other = Client()
    sign_in(other, alice)  # the same person in another browser: no value there
    elsewhere = other.get(posted["Location"], secure=True).content.decode()
    assert VALUE_RE.search(elsewhere) is None
    assert VALUE_RE.search(client.get(posted["Location"]).content.decode()) is not None


@pytest.mark.parametrize("grace", ["", "abc", "-1", "60", "999999999", "1e3"])
def test_a_grace_period_not_offered_is_a_400_and_rotates_nothing(
    client: Client, alice: User, acme: Account, grace: str
) -> None:
    token = TokenFactory(account=acme, name="CRM robot")
    sign_in(client, alice)
    response = client.post(rotate_url(token), {"grace": grace})
    assert response.status_code == 400
    assert "Choose when the old value stops working." in response.content.decode()
    assert ApiToken.objects.get(pk=token.pk).rotated_at is None


def test_an_expired_token_is_not_rotated_and_says_why(
    client: Client, alice: User, acme: Account
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    token = TokenFactory(account=acme, name="Lapsed")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    sign_in(client, alice)
    response = client.post(rotate_url(token), {"grace": "0"}, follow=True)
    assert "has expired and cannot be rotated" in response.content.decode()
    assert ApiToken.objects.get(pk=token.pk).rotated_at is None
    menu = client.get("/settings/api-tokens/").content.decode()
    assert rotate_url(token) not in menu
