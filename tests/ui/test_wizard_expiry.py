"""The Expiration control of the Add wizard and the Edit dialog (issue 16): presets that name
the date they give, a custom day, "No expiration" only where the policy allows it, the result on
the Overview and the Summary, and every refusal next to the field."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, User
from apitokens.expiry_choice import on
from apitokens.models import ApiToken, TokenPolicy, TokenStatus
from audit.models import AuditRecord
from tests.factories import TokenFactory
from tests.ui.conftest import sign_in
from tests.ui.test_wizard import ADD, state_of

pytestmark = pytest.mark.django_db


def options(body: str) -> dict[str, str]:
    select = re.search(r'<select name="expiration".*?</select>', body, re.S)
    assert select is not None
    return {
        value: re.sub(r"\s+", " ", label).strip()
        for value, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select[0])
    }


def selected(body: str) -> str:
    found = re.search(r'<option value="([^"]*)"[^>]*selected', body)
    assert found is not None
    return found.group(1)


def general_step(client: Client, **fields: str) -> tuple[int, str]:
    first = client.get(ADD).content.decode()
    data = {"state": state_of(first), "step": "general", "name": "CRM robot", **fields}
    response = client.post(ADD, data, follow=True)
    return response.status_code, response.content.decode()


def create(client: Client, **fields: str) -> tuple[ApiToken, str, str]:
    """The wizard to its end; the token, the Overview and the Summary."""
    status, modules = general_step(client, **fields)
    assert status == 200, modules
    overview = client.post(
        ADD, {"state": state_of(modules), "step": "modules", "modules": ["MOD-1756"]}, follow=True
    ).content.decode()
    summary = client.post(
        ADD, {"state": state_of(overview), "step": "overview", "nav": "add"}, follow=True
    ).content.decode()
    return ApiToken.objects.get(name="CRM robot"), overview, summary


def test_the_presets_name_their_dates_and_30_days_is_picked_first(
    client: Client, alice: User
) -> None:
    sign_in(client, alice)
    body = client.get(ADD).content.decode()
    now = timezone.now()
    shown = options(body)
    assert list(shown) == ["7", "30", "60", "90", "365", "custom", "never"]
    assert shown["7"] == f"7 days ({on(now + timedelta(days=7))})"
    assert shown["365"] == f"1 year ({on(now + timedelta(days=365))})"
    assert shown["never"] == "No expiration"
    assert selected(body) == "30"
    assert 'type="date"' in body
    assert f'min="{now.astimezone(UTC).date().isoformat()}"' in body


def test_a_preset_becomes_the_tokens_expiry_and_shows_on_overview_and_summary(
    client: Client, alice: User
) -> None:
    sign_in(client, alice)
    before = timezone.now()
    token, overview, summary = create(client, expiration="7")
    assert token.expires_at is not None
    assert before + timedelta(days=7) <= token.expires_at <= timezone.now() + timedelta(days=7)
    assert f"<dt>Expires</dt><dd>7 days: {on(token.expires_at)}</dd>" in overview
    assert re.search(r"<dt>Expires</dt>\s*<dd><time datetime=", summary)
    created = AuditRecord.objects.get(event_key="platform.accounts.api_token.created")
    assert "expires: 20" in created.details


def test_no_expiration_and_a_custom_day(client: Client, alice: User) -> None:
    sign_in(client, alice)
    token, overview, summary = create(client, expiration="never")
    assert token.expires_at is None
    assert "<dt>Expires</dt><dd>Never</dd>" in overview
    assert re.search(r"<dt>Expires</dt>\s*<dd>Never</dd>", summary)
    token.delete()
    day = timezone.now().astimezone(UTC).date() + timedelta(days=12)
    token, overview, _ = create(client, expiration="custom", expires_on=day.isoformat())
    # A custom day lasts until its end, in UTC.
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    assert token.expires_at == end
    assert f"{end:%a, %d %b %Y}, 00:00 UTC" in overview


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"expiration": "custom"}, "expires_on", "Pick the day the token expires on."),
        ({"expiration": "custom", "expires_on": "2020-01-01"}, "expires_on", "in the future"),
        ({"expiration": "custom", "expires_on": "31/12/2030"}, "expires_on", "YYYY-MM-DD"),
        ({"expiration": "12"}, "expiration", "Select a valid choice"),
    ],
)
def test_a_refused_expiry_is_shown_next_to_its_field(
    client: Client, alice: User, fields: dict[str, str], field: str, message: str
) -> None:
    sign_in(client, alice)
    status, body = general_step(client, **fields)
    assert status == 400
    error = re.search(rf'id="id_{field}_error">([^<]*)<', body)
    assert error is not None
    assert message in error.group(1)
    assert not ApiToken.objects.exists()
    # What was typed stays: the name, and the choice.
    assert 'value="CRM robot"' in body
    if fields["expiration"] == "custom":
        assert selected(body) == "custom"


def test_the_policy_shapes_the_choices(client: Client, alice: User, acme: Account) -> None:
    TokenPolicy.objects.create(account=acme, max_lifetime_days=45, require_expiry=True)
    sign_in(client, alice)
    body = client.get(ADD).content.decode()
    shown = options(body)
    assert list(shown) == ["7", "30", "45", "custom"]
    assert shown["45"].startswith("45 days, the maximum (")
    assert "This account&#x27;s tokens expire within 45 days." in body
    latest = (timezone.now() + timedelta(days=45)).astimezone(UTC).date()
    assert f'max="{latest.isoformat()}"' in body
    status, refused = general_step(client, expiration="never")
    assert status == 400
    assert "Select a valid choice" in refused
    late = (latest + timedelta(days=1)).isoformat()
    status, refused = general_step(client, expiration="custom", expires_on=late)
    assert status == 400
    assert "maximum lifetime of 45 days" in refused
    # The last allowed day is allowed: it ends at the policy's latest moment, not after it.
    token, _, _ = create(client, expiration="custom", expires_on=latest.isoformat())
    assert token.expires_at is not None
    assert token.expires_at <= timezone.now() + timedelta(days=45)
    assert token.expires_at.date() == latest


def test_a_policy_tightened_before_the_add_sends_the_wizard_back_to_expiration(
    client: Client, alice: User, acme: Account
) -> None:
    sign_in(client, alice)
    _status, modules = general_step(client, expiration="90")
    overview = client.post(
        ADD, {"state": state_of(modules), "step": "modules", "modules": []}, follow=True
    ).content.decode()
    TokenPolicy.objects.create(account=acme, max_lifetime_days=30)
    refused = client.post(
        ADD, {"state": state_of(overview), "step": "overview", "nav": "add"}, follow=True
    )
    body = refused.content.decode()
    assert refused.status_code == 400
    assert re.search(r'id="id_expiration_error">[^<]*maximum lifetime of 30 days', body)
    assert not ApiToken.objects.exists()


def test_edit_keeps_the_expiry_unless_another_is_picked(
    client: Client, alice: User, acme: Account
) -> None:
    expires = timezone.now() + timedelta(days=3)
    token = TokenFactory(account=acme, name="CRM robot", modules=["MOD-1756"], expires_at=expires)
    sign_in(client, alice)
    url = f"/settings/api-tokens/{token.public_id}/edit/"
    body = client.get(url).content.decode()
    assert selected(body) == "keep"
    assert options(body)["keep"] == f"Keep: expires {on(expires)}"
    form = {"name": "CRM robot", "modules": ["MOD-1756"], "origin": "details"}
    assert client.post(url, {**form, "expiration": "keep"}).status_code == 302
    token.refresh_from_db()
    assert token.expires_at == expires
    assert not AuditRecord.objects.filter(event_key__endswith=".updated").exists()
    assert client.post(url, {**form, "expiration": "90"}).status_code == 302
    token.refresh_from_db()
    assert token.expires_at is not None
    assert token.expires_at > expires + timedelta(days=86)
    update = AuditRecord.objects.get(event_key="platform.accounts.api_token.updated")
    assert set(update.documents["changes"]) == {"expires_at"}


def test_edit_gives_an_expired_token_a_new_life_and_then_it_can_be_enabled(
    client: Client, alice: User, acme: Account
) -> None:
    gone = timezone.now() - timedelta(hours=1)
    token = TokenFactory(account=acme, name="Old robot", status=TokenStatus.DISABLED)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=gone)
    sign_in(client, alice)
    url = f"/settings/api-tokens/{token.public_id}/edit/"
    body = client.get(url).content.decode()
    assert options(body)["keep"] == f"Keep: expired {on(gone)}"
    day = (date.today() + timedelta(days=20)).isoformat()
    saved = client.post(
        url, {"name": "Old robot", "expiration": "custom", "expires_on": day, "origin": "details"}
    )
    assert saved.status_code == 302
    token.refresh_from_db()
    assert not token.is_expired
    enabled = client.post(f"/settings/api-tokens/{token.public_id}/enable/", {"origin": "details"})
    assert enabled.status_code == 302
    token.refresh_from_db()
    assert token.status == TokenStatus.ACTIVE


def test_edit_refuses_an_expiry_beyond_the_policy_on_its_tab(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, name="CRM robot")
    TokenPolicy.objects.create(account=acme, max_lifetime_days=10)
    sign_in(client, alice)
    url = f"/settings/api-tokens/{token.public_id}/edit/"
    far = (date.today() + timedelta(days=40)).isoformat()
    refused = client.post(
        url, {"name": "CRM robot", "step": "modules", "expiration": "custom", "expires_on": far}
    )
    body = refused.content.decode()
    assert refused.status_code == 400
    assert re.search(r'id="edit-tab-general"[^>]*checked', body)
    assert "maximum lifetime of 10 days" in body
    token.refresh_from_db()
    assert token.expires_at is None
