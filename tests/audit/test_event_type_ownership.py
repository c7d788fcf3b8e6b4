"""Event types belong to someone (issue 13 item 7): ``platform.*`` to Operations, an
``extensions.*`` type to the account that recorded it first."""

from __future__ import annotations

import pytest

from audit.models import AuditRecord, EventType
from tests.apitokens.test_api import Api
from tests.factories import AccountFactory, TokenFactory

RECORDS = "/public/v1/audit/records"
TYPES = "/public/v1/audit/event-types"
EVENT = "extensions.billing.invoice_pushed"


def _post(api: Api, summary: str = "Invoice pushed"):
    return api.send(
        "post", RECORDS, {"event": EVENT, "object": {"id": "INV-1"}, "summary": summary}
    )


@pytest.fixture
def first(client, globex):
    return Api(client, TokenFactory(account=globex, name="Globex robot").plain_value)


@pytest.fixture
def second(client):
    initech = AccountFactory(name="Initech", vendor=True)
    return Api(client, TokenFactory(account=initech, name="Initech robot").plain_value)


@pytest.fixture
def ops(client, ops_account):
    token = TokenFactory(account=ops_account, name="Ops robot", modules=["MOD-6271"])
    return Api(client, token.plain_value)


def test_the_first_account_to_record_a_key_owns_it(first, second, globex):
    assert _post(first).status_code == 201
    assert EventType.objects.get(key=EVENT).owner_account_id == globex.public_id
    taken = _post(second, "I am Globex now")
    assert taken.status_code == 403, taken.content
    assert "belongs to the account that first recorded it" in taken.json()["detail"]
    assert AuditRecord.objects.filter(event_key=EVENT).count() == 1


def test_only_the_owner_or_operations_edit_an_extension_type(
    first, second, ops, globex, ops_account
):
    assert _post(first).status_code == 201
    type_id = EventType.objects.get(key=EVENT).public_id
    # Another vendor cannot even see it (404), let alone rename it.
    assert second.send("put", f"{TYPES}/{type_id}", {"name": "Mine"}).status_code == 404
    owned = first.send("put", f"{TYPES}/{type_id}", {"name": "Invoice pushed"})
    assert owned.status_code == 200, owned.content
    by_ops = ops.send("put", f"{TYPES}/{type_id}", {"description": "Sent to the ERP"})
    assert by_ops.status_code == 200, by_ops.content
    edits = AuditRecord.objects.filter(event_key="platform.audit.event_type.updated").order_by("id")
    # The owner's own edit once; Operations' edit on Operations' chain and the owner's.
    assert [e.chain for e in edits] == [globex.public_id, ops_account.public_id, globex.public_id]


def test_a_vendor_cannot_rename_the_platforms_types(first, globex):
    TokenFactory(account=globex)
    created = EventType.objects.get(key="platform.accounts.api_token.created")
    response = first.send("put", f"{TYPES}/{created.public_id}", {"name": "Pwned"})
    assert response.status_code == 403
    created.refresh_from_db()
    assert created.name == "Api token created"
    assert not AuditRecord.objects.filter(event_key="platform.audit.event_type.updated").exists()


def test_operations_may_record_under_any_extension_key(first, ops):
    assert _post(first).status_code == 201
    assert _post(ops, "Replayed by Operations").status_code == 201


def test_operations_without_platform_account_management_act_for_no_one_else(
    client, ops_account, first, globex
):
    assert _post(first).status_code == 201
    helper = Api(client, TokenFactory(account=ops_account, name="Ops helper").plain_value)
    created = EventType.objects.get(key="platform.accounts.api_token.created")
    assert helper.send("put", f"{TYPES}/{created.public_id}", {"name": "x"}).status_code == 403
    assert _post(helper, "Not mine").status_code == 403
