"""What a token may ask of the api-tokens resource (issue 13 items 3 and 6): every field's
problem in one answer, and no privilege escalation through the tokens it creates or edits."""

from __future__ import annotations

import pytest

from apitokens.models import ApiToken
from audit.models import AuditRecord
from tests.apitokens.test_api import URL, Api
from tests.factories import TokenFactory


@pytest.fixture
def robot(acme):
    """An Access Management token that also holds Billing."""
    return TokenFactory(account=acme, name="Provisioner", modules=["MOD-1756", "MOD-4525"])


@pytest.fixture
def api(client, robot):
    return Api(client, robot.plain_value)


def test_a_create_with_several_problems_names_every_field_at_once(api):
    before = (ApiToken.objects.count(), AuditRecord.objects.count())
    response = api.send(
        "post", URL, {"name": "", "modules": [{"id": "MOD-0000"}], "description": "x" * 2001}
    )
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {"name", "modules", "description"}
    assert response.json()["errors"]["modules"] == ["No such module: MOD-0000."]
    assert (ApiToken.objects.count(), AuditRecord.objects.count()) == before


def test_an_update_with_several_problems_names_every_field_at_once(api, acme):
    target = TokenFactory(account=acme, name="Target", modules=["MOD-4525"])
    response = api.send(
        "put",
        f"{URL}/{target.public_id}",
        {"name": "bad<name>", "icon": 5, "modules": [{"id": "MOD-0000"}]},
    )
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {"name", "icon", "modules"}
    target.refresh_from_db()
    assert target.name == "Target"


def test_a_token_cannot_grant_a_module_it_does_not_hold(api, acme):
    before = ApiToken.objects.count()
    response = api.send("post", URL, {"name": "Helper", "modules": [{"id": "MOD-0478"}]})
    assert response.status_code == 403, response.content
    assert "MOD-0478 (Helpdesk)" in response.json()["detail"]
    assert ApiToken.objects.count() == before
    held = api.send("post", URL, {"name": "Helper", "modules": [{"id": "MOD-4525"}]})
    assert held.status_code == 201, held.content


def test_a_token_cannot_add_a_module_it_does_not_hold_to_another(api, acme):
    target = TokenFactory(account=acme, name="Target", modules=["MOD-0478"])
    # Keeping a module it already has is no grant; adding Marketplace is.
    kept = api.send("put", f"{URL}/{target.public_id}", {"modules": [{"id": "MOD-0478"}]})
    assert kept.status_code == 200, kept.content
    refused = api.send(
        "put",
        f"{URL}/{target.public_id}",
        {"modules": [{"id": "MOD-0478"}, {"id": "MOD-1425"}]},
    )
    assert refused.status_code == 403
    assert "MOD-1425 (Marketplace)" in refused.json()["detail"]
    assert list(target.modules.values_list("public_id", flat=True)) == ["MOD-0478"]
    removed = api.send("put", f"{URL}/{target.public_id}", {"modules": []})
    assert removed.status_code == 200  # taking modules away grants nothing


def test_a_token_cannot_change_its_own_modules(api, robot):
    for modules in (
        [{"id": "MOD-1756"}],
        [{"id": "MOD-1756"}, {"id": "MOD-4525"}, {"id": "MOD-0478"}],
    ):
        response = api.send("put", f"{URL}/{robot.public_id}", {"modules": modules})
        assert response.status_code == 403, response.content
        assert response.json()["detail"] == "An API token cannot change its own modules."
    renamed = api.send("put", f"{URL}/{robot.public_id}", {"name": "Provisioner 2"})
    assert renamed.status_code == 200
    same = api.send(
        "put", f"{URL}/{robot.public_id}", {"modules": [{"id": "MOD-4525"}, {"id": "MOD-1756"}]}
    )
    assert same.status_code == 200  # the same set is no change


def test_operations_provision_other_accounts_with_their_modules(client, ops_account, acme):
    ops = TokenFactory(account=ops_account, name="Ops", modules=["MOD-6271", "MOD-1756"])
    api = Api(client, ops.plain_value)
    # Marketplace exists only for Clients: an operator grants it there without holding it.
    created = api.send(
        "post",
        URL,
        {"name": "Shop", "account": {"id": acme.public_id}, "modules": [{"id": "MOD-1425"}]},
    )
    assert created.status_code == 201, created.content
    # In its own account the rule holds for Operations too.
    own = api.send("post", URL, {"name": "Own", "modules": [{"id": "MOD-4525"}]})
    assert own.status_code == 403
