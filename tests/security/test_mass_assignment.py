"""Mass assignment: create and edit requests, through the API and the admin pages, that carry
extra fields naming protected columns never change one. The API refuses unknown and
read-only fields (400, nothing written); the pages only ever read the fields of their forms."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from accounts.models import Account, User
from apitokens.models import ApiToken
from audit.models import AuditRecord
from tests.factories import TokenFactory
from tests.ui.conftest import sign_in

API = "/public/v1/accounts/api-tokens"
PROTECTED = (
    "public_id",
    "account_id",
    "status",
    "digest",
    "ciphertext",
    "key_id",
    "created_at",
    "created_by_id",
    "created_by_name",
    "created_by_type",
    "last_access_at",
)


def extras(foreign: Account) -> dict[str, Any]:
    """Every name a client might try to sneak in, in the API's and the models' spelling."""
    return {
        "id": "TKN-1111-2222",
        "public_id": "TKN-1111-2222",
        "status": "Disabled",
        "token": "idt:TKN-1111-2222:" + "x" * 64,
        "lastAccessAt": "2020-01-01T00:00:00.000Z",
        "last_access_at": "2020-01-01T00:00:00Z",
        "audit": {"created": {"at": "2020-01-01T00:00:00.000Z", "by": {"id": "USR-0000-0000"}}},
        "created_at": "2020-01-01T00:00:00Z",
        "created_by_id": "USR-0000-0000",
        "digest": "0" * 64,
        "ciphertext": "k1:AAAA",
        "key_id": "evil",
        "account_id": foreign.pk,
        "href": "/elsewhere",
    }


def protected(token: ApiToken) -> dict[str, Any]:
    token.refresh_from_db()
    return {name: getattr(token, name) for name in PROTECTED}


def api(client: Client, method: str, path: str, token: ApiToken, body: dict[str, Any]) -> Any:
    return client.generic(
        method,
        path,
        json.dumps(body),
        content_type="application/json",
        secure=True,
        HTTP_AUTHORIZATION=f"Bearer {token.plain_value}",
    )


@pytest.fixture
def caller(acme: Account) -> ApiToken:
    return TokenFactory(account=acme, name="Admin robot", modules=["MOD-1756"])


@pytest.mark.parametrize("name", list(extras(Account(pk=0)).keys()))
def test_the_api_refuses_each_extra_field_on_create_and_writes_nothing(
    client: Client, caller: ApiToken, globex: Account, name: str
) -> None:
    before = (ApiToken.objects.count(), AuditRecord.objects.count())
    body = {"name": "Sneaky", "modules": [{"id": "MOD-1756"}], name: extras(globex)[name]}
    response = api(client, "POST", API, caller, body)
    assert response.status_code == 400
    assert name in response.json()["errors"]
    assert (ApiToken.objects.count(), AuditRecord.objects.count()) == before


@pytest.mark.parametrize("name", list(extras(Account(pk=0)).keys()))
def test_the_api_refuses_each_extra_field_on_update_and_changes_nothing(
    client: Client, caller: ApiToken, acme: Account, globex: Account, name: str
) -> None:
    target = TokenFactory(account=acme, name="Target")
    before = protected(target)
    records = AuditRecord.objects.count()
    response = api(
        client,
        "PUT",
        f"{API}/{target.public_id}",
        caller,
        {"name": "Renamed", name: extras(globex)[name]},
    )
    assert response.status_code == 400
    assert name in response.json()["errors"]
    assert protected(target) == before
    assert target.name == "Target"
    assert AuditRecord.objects.count() == records


def test_the_api_cannot_move_a_token_to_another_account(
    client: Client, caller: ApiToken, acme: Account, globex: Account
) -> None:
    target = TokenFactory(account=acme, name="Target")
    before = protected(target)
    moved = api(
        client, "PUT", f"{API}/{target.public_id}", caller, {"account": {"id": globex.public_id}}
    )
    assert moved.status_code == 409
    created = api(
        client, "POST", API, caller, {"name": "Elsewhere", "account": {"id": globex.public_id}}
    )
    assert created.status_code == 404
    assert protected(target) == before
    assert not ApiToken.objects.filter(account=globex).exists()


def state_of(body: str) -> str:
    found = re.search(r'name="state" value="([^"]+)"', body)
    assert found is not None
    return found.group(1)


def test_the_wizard_ignores_extra_fields(
    client: Client, alice: User, acme: Account, globex: Account
) -> None:
    sign_in(client, alice)
    sneaky = {**{k: str(v) for k, v in extras(globex).items()}, "account": globex.public_id}
    add = "/settings/api-tokens/add/"
    first = client.get(add, secure=True).content.decode()
    modules = client.post(
        add,
        {"state": state_of(first), "step": "general", "name": "Wizard bot", **sneaky},
        follow=True,
    ).content.decode()
    overview = client.post(
        add,
        {"state": state_of(modules), "step": "modules", "modules": ["MOD-1756"], **sneaky},
        follow=True,
    ).content.decode()
    done = client.post(
        add, {"state": state_of(overview), "step": "overview", "nav": "add", **sneaky}
    )
    assert done.status_code == 303  # to the token's Summary (issue 15)
    token = ApiToken.objects.get(name="Wizard bot")
    assert token.account == acme
    assert token.status == "Active"
    assert token.public_id != "TKN-1111-2222"
    assert token.digest != "0" * 64
    assert token.key_id != "evil"
    assert token.last_access_at is None
    assert token.created_by_id == alice.public_id
    assert token.created_at.year > 2020


def test_the_edit_dialog_ignores_extra_fields(
    client: Client, alice: User, acme: Account, globex: Account
) -> None:
    target = TokenFactory(account=acme, name="Target", modules=["MOD-1756"])
    before = protected(target)
    sign_in(client, alice)
    sneaky = {**{k: str(v) for k, v in extras(globex).items()}, "account": globex.public_id}
    url = f"/settings/api-tokens/{target.public_id}/edit/"
    # Both tabs are one form (issue 15): one post saves all of it.
    client.post(
        url,
        {
            "step": "general",
            "name": "Renamed",
            "description": "",
            "modules": ["MOD-4525"],
            **sneaky,
        },
    )
    after = protected(target)
    assert target.name == "Renamed"
    assert list(target.modules.values_list("public_id", flat=True)) == ["MOD-4525"]
    changed = {k for k in PROTECTED if before[k] != after[k]}
    assert changed == set()
