"""The token lifetime policy page (issue 16)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, User
from apitokens.models import ApiToken, TokenPolicy
from audit.models import AuditRecord
from tests.factories import TokenFactory
from tests.ui.conftest import sign_in

URL = "/settings/api-tokens/policy/"


def test_an_administrator_sets_the_policy_and_sees_what_is_outside_it(
    client: Client, alice: User, acme: Account
) -> None:
    far = TokenFactory(account=acme, name="Far robot")
    ApiToken.objects.filter(pk=far.pk).update(expires_at=timezone.now() + timedelta(days=300))
    sign_in(client, alice)
    TokenFactory(account=acme, name="Endless robot")
    page = client.get(URL).content.decode()
    assert "<h1>Token lifetime policy</h1>" in page
    assert "None: every token of this account is within the policy." in page
    saved = client.post(URL, {"max_lifetime_days": "90"}, follow=True)
    body = saved.content.decode()
    assert "The token lifetime policy has been saved." in body
    assert "2 tokens are outside it" in body
    outside = body.split("Tokens outside the policy", 1)[1]
    assert "Far robot" in outside
    assert re.search(r"Endless robot</a> <span[^>]*>TKN-[0-9-]+</span> — never expires", outside)
    assert re.search(r"Far robot</a> <span[^>]*>TKN-[0-9-]+</span> — expires <time", outside)
    policy = TokenPolicy.objects.get(account=acme)
    assert (policy.max_lifetime_days, policy.require_expiry) == (90, False)
    record = AuditRecord.objects.get(event_key="platform.accounts.api_token_policy.updated")
    assert record.actor_id == alice.public_id
    assert ApiToken.objects.get(pk=far.pk).expires_at > timezone.now() + timedelta(days=299)


@pytest.mark.parametrize("days", ["0", "3651", "ten", "-5", "1.5"])
def test_a_bad_maximum_is_a_400_next_to_the_field_and_saves_nothing(
    client: Client, alice: User, acme: Account, days: str
) -> None:
    sign_in(client, alice)
    response = client.post(URL, {"max_lifetime_days": days, "require_expiry": "on"})
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()
    assert not TokenPolicy.objects.filter(account=acme).exists()


def test_a_member_cannot_open_it(client: Client, bob: User) -> None:
    sign_in(client, bob)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"max_lifetime_days": "1"}).status_code == 403
    assert not TokenPolicy.objects.exists()
