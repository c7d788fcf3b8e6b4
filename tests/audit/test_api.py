"""Audit records and event types over the API; the modules catalogue."""

from __future__ import annotations

import pytest

from audit.models import AuditRecord, EventType
from tests.apitokens.test_api import Api
from tests.factories import AccountFactory, TokenFactory

RECORDS = "/public/v1/audit/records"
TYPES = "/public/v1/audit/event-types"
MODULES = "/public/v1/accounts/modules"


@pytest.fixture
def acme_api(client, acme):
    return Api(client, TokenFactory(account=acme, name="Acme robot").plain_value)


@pytest.fixture
def vendor_api(client, globex):
    return Api(client, TokenFactory(account=globex, name="Globex robot").plain_value)


@pytest.fixture
def ops_api(client, ops_account):
    """An operator's token: Platform Account Management is what opens every account."""
    token = TokenFactory(account=ops_account, name="Ops robot", modules=["MOD-6271"])
    return Api(client, token.plain_value)


@pytest.fixture
def ops_plain_api(client, ops_account):
    """An Operations token without Platform Account Management: its own account only."""
    token = TokenFactory(account=ops_account, name="Ops helper", modules=["MOD-1756"])
    return Api(client, token.plain_value)


def test_a_token_lists_only_its_accounts_records(acme_api, acme, globex):
    mine = TokenFactory(account=acme, name="Mine")
    TokenFactory(account=globex, name="Globex canary")
    body = acme_api.get(RECORDS, "limit=100").json()
    ids = {r["object"]["id"] for r in body["data"]}
    assert mine.public_id in ids
    assert "Globex canary" not in str(body)
    # (The request's own used_from_new_ip record is written after its answer: issue 17.)
    listed = AuditRecord.objects.filter(account_id=acme.public_id).exclude(
        event_key__endswith=".used_from_new_ip"
    )
    assert body["$meta"]["pagination"]["total"] == listed.count()


def test_it_filters_records_on_object_id_and_gets_one(acme_api, acme):
    token = TokenFactory(account=acme, name="Target")
    body = acme_api.get(RECORDS, f"eq(object.id,{token.public_id})").json()
    assert [r["event"] for r in body["data"]] == ["platform.accounts.api_token.created"]
    record = body["data"][0]
    assert record["object"] == {"id": token.public_id, "name": "Target", "objectType": "ApiToken"}
    assert record["timestamp"].endswith("Z")
    one = acme_api.get(f"{RECORDS}/{record['id']}").json()
    assert one["id"] == record["id"]
    assert one["documents"]["token"]["name"] == "Target"


def test_foreign_and_unknown_records_are_404(acme_api, globex):
    foreign = TokenFactory(account=globex)
    foreign_record = AuditRecord.objects.get(object_id=foreign.public_id)
    for record_id in (foreign_record.public_id, "AUD-0000-0000-0000-0000"):
        assert acme_api.get(f"{RECORDS}/{record_id}").status_code == 404


def test_operations_read_every_accounts_records(ops_api, acme, globex):
    a = TokenFactory(account=acme)
    b = TokenFactory(account=globex)
    body = ops_api.get(RECORDS, f"in(object.id,({a.public_id},{b.public_id}))").json()
    assert body["$meta"]["pagination"]["total"] == 2


def test_operations_without_platform_account_management_read_only_their_own_records(
    ops_plain_api, ops_account, acme, globex
):
    a = TokenFactory(account=acme)
    b = TokenFactory(account=globex)
    own = TokenFactory(account=ops_account, name="Own")
    ids = f"{a.public_id},{b.public_id},{own.public_id}"
    body = ops_plain_api.get(RECORDS, f"in(object.id,({ids}))").json()
    assert [r["object"]["id"] for r in body["data"]] == [own.public_id]
    everything = ops_plain_api.get(RECORDS, "limit=100").json()
    assert {r["object"]["id"] for r in everything["data"]} >= {own.public_id}
    assert everything["$meta"]["pagination"]["total"] == (
        AuditRecord.objects.filter(account_id=ops_account.public_id).count()
    )
    foreign = AuditRecord.objects.get(object_id=a.public_id)
    assert ops_plain_api.get(f"{RECORDS}/{foreign.public_id}").status_code == 404


def test_a_vendor_records_an_extension_event_with_itself_as_actor(vendor_api, globex):
    response = vendor_api.send(
        "post",
        RECORDS,
        {
            "event": "extensions.billing-sync.invoice_pushed",
            "object": {"id": "INV-1", "name": "Invoice 1"},
            "summary": "Invoice {{ object.name }} pushed by {{ actor.name }}",
            "details": "total {{ payload.total }}",
            "actor": {"id": "USR-9999-9999", "name": "Someone else"},
            "payload": {"total": 42},
            "documents": {"token": "must be masked"},
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["actor"]["name"] == "Globex robot"
    assert body["actor"]["type"] == "ApiToken"
    stored = AuditRecord.objects.get(public_id=body["id"])
    assert stored.account_id == globex.public_id
    assert stored.documents["reportedActor"]["id"] == "USR-9999-9999"
    assert stored.documents["payload"] == {"total": 42}
    assert stored.documents["token"] == "[MASKED]"
    rendered = vendor_api.get(f"{RECORDS}/{body['id']}", "render()").json()
    assert rendered["summary"] == "Invoice Invoice 1 pushed by Globex robot"
    assert rendered["details"] == "total 42"
    raw = vendor_api.get(f"{RECORDS}/{body['id']}").json()
    assert raw["summary"] == "Invoice {{ object.name }} pushed by {{ actor.name }}"
    assert EventType.objects.filter(key="extensions.billing-sync.invoice_pushed").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"event": "platform.accounts.api_token.created", "object": {"id": "X"}, "summary": "s"},
            "event",
        ),
        ({"event": "extensions.x.y", "summary": "s"}, "object"),
        ({"event": "extensions.x.y", "object": {"id": "X"}}, "summary"),
        (
            {"event": "extensions.x.y", "object": {"id": "X"}, "summary": "s", "documents": []},
            "documents",
        ),
        ({"event": "extensions.x.y", "object": {"id": "X"}, "summary": "s", "hash": "0"}, "hash"),
        ({"event": "extensions.x.y.", "object": {"id": "X"}, "summary": "s"}, "event"),
        ({"event": "extensions.x.y\n", "object": {"id": "X"}, "summary": "s"}, "event"),
        ({"event": "extensions.x.y", "object": {"id": ""}, "summary": "s"}, "object"),
        ({"event": "extensions.x.y", "object": {"id": "X"}, "summary": ""}, "summary"),
        (
            {"event": "extensions.x.y", "object": {"id": "X"}, "summary": "s", "documents": None},
            "documents",
        ),
    ],
)
def test_bad_records_are_refused_and_nothing_is_written(vendor_api, body, field):
    before = AuditRecord.objects.count()
    response = vendor_api.send("post", RECORDS, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert AuditRecord.objects.count() == before


@pytest.mark.parametrize(
    "body",
    [
        {
            "event": "extensions.x.y",
            "object": {"id": "X"},
            "summary": "s",
            "documents": {"k\x00": 1},
        },
        {"event": "extensions.x.y", "object": {"id": "X", "name": "a\x00"}, "summary": "s"},
        {"event": "extensions.x.y", "object": {"id": "X"}, "summary": "s", "payload": ["\x00"]},
    ],
)
def test_a_nul_character_in_a_record_is_a_400_and_nothing_is_written(vendor_api, body):
    before = AuditRecord.objects.count()
    response = vendor_api.send("post", RECORDS, body)
    assert response.status_code == 400, response.content
    assert AuditRecord.objects.count() == before


def test_client_tokens_cannot_post_records_or_edit_event_types(acme_api, acme):
    TokenFactory(account=acme)
    body = {"event": "extensions.x.y", "object": {"id": "X"}, "summary": "s"}
    assert acme_api.send("post", RECORDS, body).status_code == 403
    event_type = EventType.objects.first()
    assert acme_api.send("put", f"{TYPES}/{event_type.public_id}", {"name": "x"}).status_code == 403
    assert acme_api.get(f"{TYPES}/{event_type.public_id}").status_code == 200


def test_event_types_list_filter_get_and_update(vendor_api, ops_api, globex, ops_account):
    TokenFactory(account=globex)
    body = vendor_api.get(TYPES, "eq(key,platform.accounts.api_token.created)").json()
    [event_type] = body["data"]
    assert event_type["name"] == "Api token created"
    url = f"{TYPES}/{event_type['id']}"
    # The platform's own types are Operations' to edit (issue 13 item 7).
    refused = vendor_api.send("put", url, {"name": "Token created"})
    assert refused.status_code == 403, refused.content
    assert "belongs to Operations" in refused.json()["detail"]
    response = ops_api.send("put", url, {"name": "Token created", "description": "A new token"})
    assert response.status_code == 200
    assert response.json()["name"] == "Token created"
    assert vendor_api.get(url).json()["description"] == "A new token"
    edits = AuditRecord.objects.filter(event_key="platform.audit.event_type.updated")
    # On the editor's chain and on the owner's (the platform's, for platform.* types).
    assert sorted(edits.values_list("chain", flat=True)) == sorted(
        [ops_account.public_id, "platform"]
    )
    assert all("Name: 'Api token created' → 'Token created'" in e.details for e in edits)
    for body in ({"key": "other"}, {"name": "   "}, {"id": event_type["id"]}):
        refused = ops_api.send("put", url, body)
        assert refused.status_code == 400


def test_modules_are_for_operations_tokens(ops_api, acme_api):
    body = ops_api.get(MODULES, "limit=100").json()
    assert {m["id"] for m in body["data"]} >= {"MOD-1756", "MOD-6271"}
    assert body["$meta"]["pagination"]["total"] == 9
    assert ops_api.get(f"{MODULES}/MOD-1425").json()["name"] == "Marketplace"
    assert ops_api.get(f"{MODULES}/MOD-0000").status_code == 404
    assert [m["id"] for m in ops_api.get(MODULES, "eq(name,Billing)").json()["data"]] == [
        "MOD-4525"
    ]
    assert acme_api.get(MODULES).status_code == 403


@pytest.fixture
def globex_secret_event(vendor_api):
    """Globex's integration records an event whose key names its own business."""
    response = vendor_api.send(
        "post",
        RECORDS,
        {
            "event": "extensions.globex-merger.deal_signed",
            "object": {"id": "DEAL-1", "name": "Initech merger"},
            "summary": "Deal signed",
        },
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize(
    "query",
    [
        "eq(id,{record})",
        "in(id,({record},AUD-0000-0000-0000-0000))",
        "eq(object.id,DEAL-1)",
        "eq(object.name,Initech merger)",
        "eq(actor.id,{actor})",
        "eq(actor.account.id,{globex})",
        "eq(actor.type,ApiToken)",
        "event=extensions.globex-merger.deal_signed",
        "ilike(event,extensions.*)",
        "gt(timestamp,2000-01-01)&order=-timestamp&limit=100",
    ],
)
def test_no_record_filter_of_acme_reaches_globex(acme_api, globex, globex_secret_event, query):
    filled = query.format(
        record=globex_secret_event["id"],
        actor=globex_secret_event["actor"]["id"],
        globex=globex.public_id,
    )
    response = acme_api.get(RECORDS, filled)
    assert response.status_code == 200, response.content
    text = response.content.decode()
    assert "Initech" not in text
    assert globex.public_id not in text
    assert globex_secret_event["id"] not in text


def test_another_accounts_extension_event_types_are_404_and_never_listed(
    acme_api, vendor_api, ops_api, client, globex_secret_event
):
    key = "extensions.globex-merger.deal_signed"
    event_type = EventType.objects.get(key=key)
    name = event_type.name
    path = f"{TYPES}/{event_type.public_id}"
    initech = Api(
        client,
        TokenFactory(account=AccountFactory(name="Initech", vendor=True)).plain_value,
    )
    for outsider in (acme_api, initech):
        listed = outsider.get(TYPES, "limit=100")
        assert key not in listed.content.decode()
        assert outsider.get(TYPES, f"eq(key,{key})").json()["$meta"]["pagination"]["total"] == 0
        assert outsider.get(path).status_code == 404
    # A Vendor of another account may rename event types, but not this one: it is Globex's.
    renamed = initech.send("put", path, {"name": "Hijacked"})
    assert renamed.status_code == 404
    event_type.refresh_from_db()
    assert event_type.name == name
    # The platform's own event types stay visible to everyone.
    assert acme_api.get(TYPES, "eq(key,platform.accounts.api_token.created)").json()["data"]
    # Globex and the operators see it.
    for insider in (vendor_api, ops_api):
        assert insider.get(path).json()["key"] == key
        assert insider.get(TYPES, f"eq(key,{key})").json()["$meta"]["pagination"]["total"] == 1


def test_operations_without_platform_account_management_see_no_foreign_extension_types(
    ops_plain_api, globex_secret_event
):
    key = "extensions.globex-merger.deal_signed"
    event_type = EventType.objects.get(key=key)
    assert ops_plain_api.get(f"{TYPES}/{event_type.public_id}").status_code == 404
    assert key not in ops_plain_api.get(TYPES, "limit=100").content.decode()
    assert ops_plain_api.get(TYPES, "eq(key,platform.accounts.api_token.created)").json()["data"]


def test_a_foreign_record_answers_exactly_like_an_unknown_one(acme_api, globex_secret_event):
    bodies = []
    for record_id in (globex_secret_event["id"], "AUD-0000-0000-0000-0000"):
        response = acme_api.get(f"{RECORDS}/{record_id}")
        assert response.status_code == 404
        bodies.append(
            {
                k: str(v).replace(record_id, "<id>")
                for k, v in response.json().items()
                if k != "traceId"
            }
        )
    assert bodies[0] == bodies[1]
