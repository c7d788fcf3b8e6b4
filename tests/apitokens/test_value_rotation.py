"""Rotating a token's value with a grace period (issue 16): ``POST …/{id}/rotate``."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from apitokens import lifetime, value_rotation
from apitokens.models import ApiToken, TokenPolicy
from audit.models import AuditRecord
from tests.apitokens.test_api import URL, Api
from tests.factories import TokenFactory

ROTATED = "platform.accounts.api_token.rotated"


def rotate(api: Api, token_id: str, body=None):
    return api.send("post", f"{URL}/{token_id}/rotate", body)


def works(client, value: str, token_id: str) -> bool:
    status = Api(client, value).get(f"{URL}/{token_id}").status_code
    assert status in (200, 401), status
    return status == 200


def test_rotate_returns_a_new_value_and_the_old_one_works_for_a_day(client, api, acme):
    target = TokenFactory(account=acme, name="Target")
    response = rotate(api, target.public_id)
    assert response.status_code == 200, response.json()
    body = response.json()
    new_value = body["token"]
    assert new_value.startswith(f"idt:{target.public_id}:")
    assert new_value != target.plain_value
    until = datetime.fromisoformat(body["rotation"]["previousValidUntil"])
    assert abs((until - timezone.now() - timedelta(hours=24)).total_seconds()) < 60
    assert works(client, target.plain_value, target.public_id)
    assert works(client, new_value, target.public_id)
    # The token reads its rotation while the grace lasts.
    assert api.get(f"{URL}/{target.public_id}").json()["rotation"] == body["rotation"]
    record = AuditRecord.objects.get(object_id=target.public_id, event_key=ROTATED)
    assert "previous value works until" in record.details
    assert new_value not in str(record.__dict__)
    assert target.plain_value not in str(record.__dict__)


def test_grace_zero_is_an_emergency_rotation(client, api, acme):
    target = TokenFactory(account=acme, name="Leaked")
    body = rotate(api, target.public_id, {"gracePeriod": 0}).json()
    assert "rotation" not in body
    assert not works(client, target.plain_value, target.public_id)
    assert works(client, body["token"], target.public_id)
    record = AuditRecord.objects.get(object_id=target.public_id, event_key=ROTATED)
    assert "stopped working at once" in record.details


def test_a_second_rotation_ends_the_first_grace_at_once(client, api, acme):
    target = TokenFactory(account=acme, name="Twice")
    first = rotate(api, target.public_id, {"gracePeriod": 3600}).json()["token"]
    second = rotate(api, target.public_id, {"gracePeriod": 3600}).json()["token"]
    assert not works(client, target.plain_value, target.public_id)
    assert works(client, first, target.public_id)
    assert works(client, second, target.public_id)


def test_the_old_value_is_refused_like_any_wrong_secret_after_the_grace(client, api, acme):
    target = TokenFactory(account=acme, name="Short grace")
    body = rotate(api, target.public_id, {"gracePeriod": 1}).json()
    assert works(client, target.plain_value, target.public_id)
    time.sleep(1.2)
    refused = Api(client, target.plain_value).get(f"{URL}/{target.public_id}")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "The API token is invalid."
    assert works(client, body["token"], target.public_id)
    assert "rotation" not in api.get(f"{URL}/{target.public_id}").json()


def test_a_token_may_rotate_itself_but_not_another_without_the_module(client, acme):
    robot = TokenFactory(account=acme, name="Self-rotating robot")  # no modules at all
    caller = Api(client, robot.plain_value)
    response = caller.send("post", f"{URL}/{robot.public_id}/rotate", {"gracePeriod": 60})
    assert response.status_code == 200, response.json()
    other = TokenFactory(account=acme, name="Other")
    refused = Api(client, response.json()["token"]).send("post", f"{URL}/{other.public_id}/rotate")
    assert refused.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"gracePeriod": -1},
        {"gracePeriod": 7 * 86400 + 1},
        {"gracePeriod": "60"},
        {"gracePeriod": 1.5},
        {"gracePeriod": None},
        {"grace": 60},
        [],
    ],
)
def test_a_bad_grace_period_is_a_400_and_rotates_nothing(client, api, acme, body):
    target = TokenFactory(account=acme, name="Kept")
    response = rotate(api, target.public_id, body)
    assert response.status_code == 400
    assert works(client, target.plain_value, target.public_id)
    assert not AuditRecord.objects.filter(event_key=ROTATED).exists()


def test_the_new_expiry_keeps_the_lifetime_within_the_policy(api, acme):
    target = TokenFactory(account=acme, name="Monthly")
    created = ApiToken.objects.get(pk=target.pk).created_at
    ApiToken.objects.filter(pk=target.pk).update(expires_at=created + timedelta(days=30))
    body = rotate(api, target.public_id).json()
    new_expiry = datetime.fromisoformat(body["expiresAt"])
    assert abs((new_expiry - timezone.now() - timedelta(days=30)).total_seconds()) < 60
    # A policy shorter than the lifetime caps it.
    TokenPolicy.objects.create(account=acme, max_lifetime_days=10)
    capped = datetime.fromisoformat(rotate(api, target.public_id).json()["expiresAt"])
    assert abs((capped - timezone.now() - timedelta(days=10)).total_seconds()) < 60
    assert lifetime.expiry_errors(capped, lifetime.limits_of(acme)) == []


def test_a_deleted_or_expired_token_does_not_rotate(client, api, acme):
    gone = TokenFactory(account=acme, name="Gone", deleted=True)
    assert rotate(api, gone.public_id).status_code == 404  # a Client does not see it
    lapsed = TokenFactory(account=acme, name="Lapsed")
    ApiToken.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    refused = rotate(api, lapsed.public_id)
    assert refused.status_code == 409
    assert "expired" in refused.json()["detail"]
    assert not works(client, lapsed.plain_value, lapsed.public_id)


def test_the_service_refuses_a_deleted_token(acme):
    from audit.types import Actor
    from tokens_admin.errors import DomainError

    gone = TokenFactory(account=acme, name="Gone", deleted=True)
    with pytest.raises(DomainError):
        value_rotation.rotate_token(token=gone.public_id, grace_seconds=0, actor=Actor.system())
