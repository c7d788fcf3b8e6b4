"""Token expiry and the account's lifetime policy (issue 16): ``expiresAt`` in the API, the
derived ``Expired`` status, the Bearer refusal with its description, one ``expired`` record,
and ``/public/v1/accounts/api-token-policy``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apitokens import lifetime, services
from apitokens.models import ApiToken, TokenPolicy
from apitokens.policy import EVENT_POLICY_UPDATED
from audit.models import AuditRecord
from audit.types import Actor
from tests.apitokens.test_api import URL, Api
from tests.factories import AccountFactory, TokenFactory

POLICY = "/public/v1/accounts/api-token-policy"
EXPIRED = "platform.accounts.api_token.expired"


def iso_in(delta: timedelta) -> str:
    moment = timezone.now() + delta
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def expire(token: ApiToken, ago: timedelta = timedelta(minutes=1)) -> None:
    """As if ``token`` had been made to expire and that moment passed."""
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - ago)


# --- expiresAt in the API ------------------------------------------------------------------


def test_create_with_an_expiry_returns_it_in_utc_with_milliseconds(api):
    wanted = iso_in(timedelta(days=30))
    response = api.send("post", URL, {"name": "Expiring", "expiresAt": wanted})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["expiresAt"] == wanted
    assert body["status"] == "Active"
    stored = ApiToken.objects.get(public_id=body["id"])
    assert stored.expires_at == datetime.fromisoformat(wanted)
    record = AuditRecord.objects.get(object_id=body["id"], event_key=services.EVENT_CREATED)
    assert "expires" in record.details.lower()


def test_a_token_without_expiry_has_no_expires_at_field(api):
    body = api.send("post", URL, {"name": "Forever"}).json()
    assert "expiresAt" not in body
    assert "expiresAt" not in api.get(f"{URL}/{body['id']}").json()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2001-01-01T00:00:00Z", "in the future"),
        ("tomorrow", "ISO-8601"),
        (12, "string"),
        ("2026-02-30T00:00:00Z", "ISO-8601"),
        ("10000-01-01T00:00:00Z", "ISO-8601"),
    ],
)
def test_a_bad_expiry_is_a_field_error_with_the_others(api, value, message):
    response = api.send("post", URL, {"name": "", "expiresAt": value})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert message in " ".join(errors["expiresAt"])
    assert "name" in errors  # every field at once
    assert not ApiToken.objects.filter(name="").exists()


def test_a_naive_expiry_is_read_as_utc(api):
    moment = (timezone.now() + timedelta(days=2)).astimezone(UTC).replace(microsecond=0)
    naive = moment.replace(tzinfo=None).isoformat()
    body = api.send("post", URL, {"name": "Naive", "expiresAt": naive}).json()
    assert body["expiresAt"] == moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_update_sets_changes_and_clears_the_expiry_with_audit_details(api, acme):
    token = TokenFactory(account=acme, name="Target")
    later = iso_in(timedelta(days=10))
    response = api.send("put", f"{URL}/{token.public_id}", {"expiresAt": later})
    assert response.status_code == 200
    assert response.json()["expiresAt"] == later
    record = AuditRecord.objects.filter(
        object_id=token.public_id, event_key=services.EVENT_UPDATED
    ).latest("seq")
    assert "Expires: never →" in record.details
    cleared = api.send("put", f"{URL}/{token.public_id}", {"expiresAt": None})
    assert cleared.status_code == 200
    assert "expiresAt" not in cleared.json()


def test_rql_filters_and_sorts_on_expires_at(api, acme, admin_token):
    soon = TokenFactory(account=acme, name="Soon")
    late = TokenFactory(account=acme, name="Late")
    ApiToken.objects.filter(pk=soon.pk).update(expires_at=timezone.now() + timedelta(days=1))
    ApiToken.objects.filter(pk=late.pk).update(expires_at=timezone.now() + timedelta(days=9))
    cutoff = iso_in(timedelta(days=5))

    def names(query: str) -> list[str]:
        response = api.get(URL, query)
        assert response.status_code == 200, response.json()
        return [t["name"] for t in response.json()["data"]]

    assert names(f"lt(expiresAt,{cutoff})") == ["Soon"]
    assert names("eq(expiresAt,null())") == ["Admin robot"]
    assert set(names("ne(expiresAt,null())")) == {"Soon", "Late"}
    # Never expiring sorts after every date, ascending, on both databases.
    assert names("order=expiresAt") == ["Soon", "Late", "Admin robot"]
    assert names("order=-expiresAt") == ["Admin robot", "Late", "Soon"]


# --- Expired -------------------------------------------------------------------------------


def test_an_expired_token_is_refused_with_the_expired_description(client, acme):
    token = TokenFactory(account=acme, name="Old robot", modules=["MOD-1756"])
    expire(token)
    caller = Api(client, token.plain_value)
    for _ in range(3):
        response = caller.get(URL)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == (
            'Bearer realm="api", error="invalid_token", '
            'error_description="The access token expired"'
        )
        assert response.json()["detail"] == "The API token expired."
    records = AuditRecord.objects.filter(object_id=token.public_id, event_key=EXPIRED)
    assert records.count() == 1  # once, however often it is tried
    assert "expired" in records.get().details


def test_a_token_expiring_in_two_seconds_works_then_is_refused(client, acme):
    token = TokenFactory(account=acme, name="Short", modules=["MOD-1756"])
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(seconds=2))
    caller = Api(client, token.plain_value)
    assert caller.get(f"{URL}/{token.public_id}").status_code == 200
    time.sleep(2.2)
    refused = caller.get(f"{URL}/{token.public_id}")
    assert refused.status_code == 401
    assert 'error_description="The access token expired"' in refused["WWW-Authenticate"]


def test_expired_is_the_status_in_reads_and_filters(api, acme):
    gone = TokenFactory(account=acme, name="Gone")
    off = TokenFactory(account=acme, name="Off", disabled=True)
    expire(gone)
    expire(off)
    assert api.get(f"{URL}/{gone.public_id}").json()["status"] == "Expired"
    assert api.get(f"{URL}/{off.public_id}").json()["status"] == "Expired"

    def names(query: str) -> set[str]:
        response = api.get(URL, query)
        assert response.status_code == 200, response.json()
        return {t["name"] for t in response.json()["data"]}

    assert names("eq(status,Expired)") == {"Gone", "Off"}
    assert names("eq(status,Active)") == {"Admin robot"}
    assert names("eq(status,Disabled)") == set()
    assert names("in(status,(Expired,Active))") == {"Gone", "Off", "Admin robot"}


def test_an_expired_token_cannot_be_enabled_until_its_expiry_moves(api, acme):
    token = TokenFactory(account=acme, name="Lapsed", disabled=True)
    expire(token)
    refused = api.send("post", f"{URL}/{token.public_id}/enable", {})
    assert refused.status_code == 409
    assert "expired" in refused.json()["detail"]
    assert "expiresAt" in refused.json()["detail"]
    moved = api.send("put", f"{URL}/{token.public_id}", {"expiresAt": iso_in(timedelta(days=3))})
    assert moved.status_code == 200
    assert moved.json()["status"] == "Disabled"
    enabled = api.send("post", f"{URL}/{token.public_id}/enable", {})
    assert enabled.status_code == 200
    assert enabled.json()["status"] == "Active"


def test_the_sweep_records_each_expiry_once_and_again_after_an_extension(acme):
    token = TokenFactory(account=acme, name="Swept")
    expire(token)
    assert lifetime.record_expiries() == [token.public_id]
    assert lifetime.record_expiries() == []
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(days=1))
    assert lifetime.record_expiries() == []
    # Extended through the service, then past again: a new expiry, a new record.
    services.update_token(
        token=token.public_id,
        expires_at=timezone.now() + timedelta(seconds=1),
        actor=Actor.system(),
    )
    expire(token)
    assert lifetime.record_expiries() == [token.public_id]
    assert AuditRecord.objects.filter(object_id=token.public_id, event_key=EXPIRED).count() == 2


# --- The policy ----------------------------------------------------------------------------


def test_the_policy_reads_as_unlimited_by_default(api, acme):
    response = api.get(POLICY)
    assert response.status_code == 200
    assert response.json() == {
        "account": {"id": acme.public_id, "name": acme.name},
        "requireExpiry": False,
    }


def test_put_policy_sets_it_records_it_and_lists_what_exceeds_it(api, acme):
    far = TokenFactory(account=acme, name="Far")
    ApiToken.objects.filter(pk=far.pk).update(expires_at=timezone.now() + timedelta(days=200))
    response = api.send("put", POLICY, {"maxLifetimeDays": 90, "requireExpiry": True})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["maxLifetimeDays"] == 90
    assert body["requireExpiry"] is True
    exceeding = {t["id"]: t for t in body["exceeding"]}
    # The robot has no expiry (required now) and Far expires after the maximum.
    assert set(exceeding) == {far.public_id, api_token_id(api)}
    policy = TokenPolicy.objects.get(account=acme)
    assert (policy.max_lifetime_days, policy.require_expiry) == (90, True)
    record = AuditRecord.objects.get(event_key=EVENT_POLICY_UPDATED)
    assert "Maximum lifetime: none → 90 days" in record.details
    assert "Expiry required: no → yes" in record.details
    # Nothing was shortened: tightening never kills a token by itself.
    far.refresh_from_db()
    assert far.expires_at > timezone.now() + timedelta(days=199)


def api_token_id(api: Api) -> str:
    return ApiToken.objects.get(name="Admin robot").public_id


@pytest.mark.parametrize(
    "body",
    [
        {"maxLifetimeDays": 0},
        {"maxLifetimeDays": 3651},
        {"maxLifetimeDays": "30"},
        {"maxLifetimeDays": 1.5},
        {"requireExpiry": "yes"},
        {"unknown": 1},
        [],
    ],
)
def test_a_bad_policy_is_a_400_and_changes_nothing(api, acme, body):
    response = api.send("put", POLICY, body)
    assert response.status_code == 400
    assert not TokenPolicy.objects.filter(account=acme).exists()


def test_create_and_update_beyond_the_maximum_are_refused_naming_it(api, acme):
    api.send("put", POLICY, {"maxLifetimeDays": 30})
    refused = api.send("post", URL, {"name": "Long", "expiresAt": iso_in(timedelta(days=31))})
    assert refused.status_code == 400
    assert "30 days" in refused.json()["errors"]["expiresAt"][0]
    # No expiry at all is beyond a maximum too.
    forever = api.send("post", URL, {"name": "Forever"})
    assert forever.status_code == 400
    assert "30 days" in forever.json()["errors"]["expiresAt"][0]
    ok = api.send("post", URL, {"name": "Fine", "expiresAt": iso_in(timedelta(days=29))})
    assert ok.status_code == 201
    token_id = ok.json()["id"]
    longer = api.send("put", f"{URL}/{token_id}", {"expiresAt": iso_in(timedelta(days=40))})
    assert longer.status_code == 400
    assert "30 days" in longer.json()["errors"]["expiresAt"][0]


def test_require_expiry_without_a_maximum_refuses_only_no_expiry(api, acme):
    api.send("put", POLICY, {"requireExpiry": True})
    refused = api.send("post", URL, {"name": "Forever"})
    assert refused.status_code == 400
    assert "required" in refused.json()["errors"]["expiresAt"][0]
    far = api.send("post", URL, {"name": "Far", "expiresAt": iso_in(timedelta(days=3000))})
    assert far.status_code == 201
    cleared = api.send("put", f"{URL}/{far.json()['id']}", {"expiresAt": None})
    assert cleared.status_code == 400


def test_operations_reads_and_sets_another_accounts_policy(ops_api, acme):
    response = ops_api.send("put", f"{POLICY}?account.id={acme.public_id}", {"maxLifetimeDays": 7})
    assert response.status_code == 200, response.json()
    assert response.json()["account"]["id"] == acme.public_id
    read = ops_api.get(POLICY, f"account.id={acme.public_id}")
    assert read.json()["maxLifetimeDays"] == 7


def test_a_client_token_cannot_reach_another_accounts_policy(api):
    other = AccountFactory(name="Other")
    assert api.get(POLICY, f"account.id={other.public_id}").status_code == 404
    put = api.send("put", f"{POLICY}?account.id={other.public_id}", {"maxLifetimeDays": 1})
    assert put.status_code == 404
    assert not TokenPolicy.objects.filter(account=other).exists()
    assert api.get(POLICY, "account.id=nonsense").status_code == 400
