"""Every record says what happened in full (issue 13 item 2): ``details`` is never empty,
updates show each field before and after, status changes from and to, sign-ins where from;
``render()`` leaves no template behind; integrations keep what they posted."""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts import services as account_services
from accounts.models import Module
from apitokens import exposure, module_removal, rotation, services
from audit.models import AuditRecord
from audit.recorder import AuditError, record
from audit.types import Actor, ObjectRef, RequestContext
from tests.apitokens.test_api import URL, Api
from tests.factories import TokenFactory
from tests.ui.test_signin import PASSWORD

RECORDS = "/public/v1/audit/records"
WHERE = RequestContext(ip="203.0.113.9", user_agent="curl/8.5", trace_id="")


def test_record_refuses_a_record_without_details(acme):
    with pytest.raises(AuditError, match="needs a summary and details"), transaction.atomic():
        record(
            event="platform.accounts.api_token.updated",
            obj=ObjectRef(id="TKN-1111-2222", name="CRM robot", object_type="ApiToken"),
            actor=Actor.system(),
            account_id=acme.public_id,
            summary="API token CRM robot updated",
            details="  ",
        )
    assert not AuditRecord.objects.exists()


def test_an_update_lists_each_changed_field_with_before_and_after(client, acme):
    admin = TokenFactory(account=acme, name="Admin", modules=["MOD-1756", "MOD-4525"])
    token = TokenFactory(account=acme, name="CRM robot", modules=["MOD-0478"])
    api = Api(client, admin.plain_value)
    response = api.send(
        "put",
        f"{URL}/{token.public_id}",
        {"name": "CRM robot 2", "description": "Syncs", "modules": [{"id": "MOD-4525"}]},
    )
    assert response.status_code == 200, response.content
    entry = AuditRecord.objects.get(event_key=services.EVENT_UPDATED, object_id=token.public_id)
    assert entry.details == (
        "Name: 'CRM robot' → 'CRM robot 2'; Description: (empty) → 'Syncs'; "
        f"modules added: Billing; modules removed: Helpdesk, by Admin ({admin.public_id})."
    )


def test_status_changes_say_from_and_to(acme):
    token = TokenFactory(account=acme, name="CRM robot")
    services.disable_token(token=token, actor=Actor.system(), request=WHERE)
    entry = AuditRecord.objects.get(event_key=services.EVENT_STATUS_CHANGED)
    assert entry.details == "Status: Active → Disabled, by System (SYSTEM)."


def test_sign_ins_say_where_from(client, alice, acme):
    client.post("/signin/", {"email": "alice@acme.test", "password": "wrong"}, secure=True)
    client.post(
        "/signin/",
        {"email": "alice@acme.test", "password": PASSWORD},
        secure=True,
        HTTP_USER_AGENT="Firefox/140",
        REMOTE_ADDR="198.51.100.4",
    )
    failed = AuditRecord.objects.get(event_key="platform.accounts.user.sign_in_failed")
    assert "refused from 127.0.0.1" in failed.details
    assert "the password was wrong" in failed.details
    assert "wrong" not in failed.summary
    signed_in = AuditRecord.objects.get(event_key="platform.accounts.user.signed_in")
    assert signed_in.details == (
        f"Alice Admin (alice@acme.test) signed in to {acme.name} from 198.51.100.4 (Firefox/140)."
    )


def test_every_record_the_product_writes_has_details(client, acme, alice, ops_account):
    """Walk every kind of change the product records, then read them all back."""
    actor = Actor.system()
    token = TokenFactory(account=acme, name="Walker", modules=["MOD-4525"])
    services.update_token(token=token, name="Walker 2", actor=actor, request=WHERE)
    services.reveal_value(token=token, actor=actor, request=WHERE)
    services.reveal_value(token=token, actor=actor, copied=True, request=WHERE)
    exposure.record_exposure(token=token, request=WHERE)
    billing = Module.objects.get(public_id="MOD-4525")
    module_removal.remove_account_modules(account=acme, modules=[billing], actor=actor)
    account_services.enable_account_modules(account=acme, modules=[billing], actor=actor)
    account_services.create_account(name="Initech", type="Client", actor=actor)
    account_services.create_user(
        email="new@acme.test", name="New", password=None, account=acme, role="Member", actor=actor
    )
    services.delete_token(token=token, actor=actor)
    rotation.rotate()
    records = list(AuditRecord.objects.all())
    assert len({r.event_key for r in records}) >= 10
    assert [r.event_key for r in records if not r.details.strip()] == []
    ops = TokenFactory(account=ops_account, name="Reader", modules=["MOD-6271"])
    listed = Api(client, ops.plain_value).get(RECORDS, "limit=100").json()["data"]
    assert listed
    assert all(item["details"] and item["summary"] for item in listed)


@pytest.fixture
def vendor(client, globex):
    return Api(client, TokenFactory(account=globex, name="Globex robot").plain_value)


def test_render_fills_templates_and_leaves_no_braces(vendor):
    posted = vendor.send(
        "post",
        RECORDS,
        {
            "event": "extensions.billing.invoice_pushed",
            "object": {"id": "INV-1", "name": "Invoice 1"},
            "summary": "{{ object.name }} pushed by {{actor.name}}",
            "details": "Total {{ total }} for {{ nobody.knows }}; {{ broken",
            "documents": {"total": 42},
        },
    )
    assert posted.status_code == 201, posted.content
    record_id = posted.json()["id"]
    # Without render() the integration's text comes back exactly as posted.
    raw = vendor.get(f"{RECORDS}/{record_id}").json()
    assert raw["details"] == "Total {{ total }} for {{ nobody.knows }}; {{ broken"
    for query in ("render()", "select=object,actor&render()", "render()&select=-documents"):
        body = vendor.get(f"{RECORDS}/{record_id}", query).json()
        assert body["summary"] == "Invoice 1 pushed by Globex robot"
        assert body["details"] == "Total 42 for ;  broken"
    [listed] = vendor.get(RECORDS, "eq(object.id,INV-1)&render()").json()["data"]
    assert "{{" not in listed["details"] + listed["summary"]
    assert "}}" not in listed["details"] + listed["summary"]


def test_an_integration_record_without_details_reads_its_summary_as_details(vendor):
    posted = vendor.send(
        "post",
        RECORDS,
        {"event": "extensions.jobs.finished", "object": {"id": "JOB-1"}, "summary": "Done"},
    )
    assert posted.status_code == 201
    assert posted.json()["details"] == "Done"
