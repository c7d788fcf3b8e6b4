"""The api-tokens resource over the test client: contract, visibility, errors."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError

from apitokens.models import ApiToken, TokenStatus
from apitokens.secrets import mask
from audit.models import AuditRecord
from audit.types import Actor, ActorType
from tests.factories import AccountFactory, TokenFactory

URL = "/public/v1/accounts/api-tokens"


class Api:
    """A tiny client that speaks as one token over HTTPS."""

    def __init__(self, client, value: str):
        self.client = client
        self.auth = {"HTTP_AUTHORIZATION": f"Bearer {value}"}

    def get(self, path: str, query: str = ""):
        return self.client.get(path + (f"?{query}" if query else ""), secure=True, **self.auth)

    def send(self, method: str, path: str, body=None, content_type="application/json", raw=None):
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return getattr(self.client, method)(
            path, data=data, content_type=content_type, secure=True, **self.auth
        )


def test_it_lists_tokens_in_the_platform_envelope(api, acme, admin_token):
    TokenFactory(account=acme, name="Second", modules=["MOD-1425"])
    response = api.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["$meta"]["pagination"] == {"offset": 0, "limit": 10, "total": 2}
    assert body["$meta"]["omitted"] == ["modules", "audit", "usage"]
    first = body["data"][0]
    assert first["name"] == "Second"  # newest first
    assert set(first) >= {"id", "href", "name", "status", "token", "account"}
    assert "modules" not in first
    assert "lastAccessAt" not in first  # null fields are left out
    assert first["token"] == f"idt:{first['id']}:" + "*" * 16
    assert first["account"] == {
        "id": acme.public_id,
        "href": f"/accounts/accounts/{acme.public_id}",
        "name": acme.name,
        "type": "Client",
        "status": "Active",
    }


def test_it_filters_orders_selects_and_pages(api, acme):
    for name in ("Alpha bot", "Beta bot", "Gamma", "Delta bot"):
        TokenFactory(account=acme, name=name, modules=["MOD-1756", "MOD-4525"])
    TokenFactory(account=acme, name="Off bot", disabled=True)
    body = api.get(
        URL,
        "and(eq(status,Active),ilike(name,*BOT*))&order=+name&select=+modules,-description&limit=2&offset=1",
    ).json()
    # "Admin robot" (the caller) matches too: Admin robot, Alpha bot, Beta bot, Delta bot.
    assert body["$meta"]["pagination"] == {"offset": 1, "limit": 2, "total": 4}
    assert [t["name"] for t in body["data"]] == ["Alpha bot", "Beta bot"]
    assert {m["id"] for m in body["data"][0]["modules"]} == {"MOD-1756", "MOD-4525"}
    assert body["$meta"]["omitted"] == ["audit", "usage"]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("status=Disabled", ["Off"]),
        ("eq(status,Disabled)", ["Off"]),
        ("ne(status,Active)", ["Off"]),
        ("in(name,(Off,Billing))", ["Billing", "Off"]),
        ("out(name,(Off,Billing,Admin robot))", []),
        ("any(modules,eq(id,MOD-4525))", ["Billing"]),
        ("eq(modules.id,MOD-4525)", ["Billing"]),
        ("like(name,Bil*)", ["Billing"]),
        ("not(eq(name,Off))", ["Admin robot", "Billing"]),
        ("or(eq(name,Off),eq(name,Billing))", ["Billing", "Off"]),
        ("eq(lastAccessAt,null())", ["Billing", "Off"]),
        ("gt(audit.created.at,2000-01-01)", ["Admin robot", "Billing", "Off"]),
        ("eq(description,empty())", ["Admin robot", "Billing", "Off"]),
    ],
)
def test_it_answers_each_operator(api, acme, admin_token, query, names):
    TokenFactory(account=acme, name="Off", disabled=True)
    TokenFactory(account=acme, name="Billing", modules=["MOD-4525"])
    api.get(URL)  # sets the admin token's lastAccessAt
    body = api.get(URL, query + "&order=name").json()
    assert sorted(t["name"] for t in body["data"]) == names


def test_eq_token_finds_a_token_by_its_value(api, acme):
    other = TokenFactory(account=acme, name="Lookup")
    body = api.get(URL, f"eq(token,'{other.plain_value}')").json()
    assert [t["id"] for t in body["data"]] == [other.public_id]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("eq(digest,abc)", "cannot filter on 'digest'"),
        ("eq(ciphertext,abc)", "cannot filter on"),
        ("order=digest", "cannot sort by"),
        ("eq(status,Sleeping)", "must be one of"),
        ("gt(audit.created.at,yesterday)", "ISO-8601"),
        # Well-formed but impossible or unrepresentable dates: 400, not a 500 or a 503.
        ("gt(audit.created.at,2026-02-30)", "ISO-8601"),
        ("ge(audit.created.at,2026-01-01T25:00:00)", "ISO-8601"),
        ("lt(audit.created.at,9999-12-31T23:59:59-01:00)", "out of range"),
        ("gt(lastAccessAt,0001-01-01T00:00:00%2B01:00)", "out of range"),
        ("eq(lastAccessAt,empty())", "empty() applies to text fields"),
        ("and(eq(status,Active)", "expected ')'"),
        ("foo(status,Active)", "unknown operator"),
        ("select=+secret", "cannot select"),
        # Items are taken as written, as openapi.json describes them: no trimming.
        ("select=+modules,%20-description", "cannot select ' -description'"),
        ("order=name,%20status", "cannot sort by ' status'"),
        ("order=", "order must be"),
    ],
)
def test_bad_queries_are_400_problems_naming_the_reason(api, query, fragment):
    response = api.get(URL, query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert fragment in response.json()["detail"]


def test_an_empty_select_is_no_projection(api, admin_token):
    # mpt-api-client 5.4 (pinned by mpt-cli 6) sends "?select=" on every get().
    one = api.get(f"{URL}/{admin_token.public_id}", "select=")
    assert one.status_code == 200, one.content
    assert one.json()["token"] == admin_token.plain_value
    assert "modules" not in one.json()
    listed = api.get(URL, "select=")
    assert listed.status_code == 200
    assert listed.json()["$meta"]["omitted"] == ["modules", "audit", "usage"]


def test_limit_zero_returns_only_the_total(api, acme):
    TokenFactory(account=acme)
    body = api.get(URL, "limit=0").json()
    assert body["data"] == []
    assert body["$meta"]["pagination"]["total"] == 2


def test_create_returns_201_with_the_full_value_once(api, acme, admin_token):
    response = api.send(
        "post",
        URL,
        {
            "account": {"id": acme.public_id},
            "name": "CRM",
            "description": "d",
            "modules": [{"id": "MOD-1756"}],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    token = ApiToken.objects.get(public_id=body["id"])
    assert body["token"].startswith(f"idt:{token.public_id}:")
    assert body["modules"] == [
        {
            "id": "MOD-1756",
            "name": "Access Management",
            "description": token.modules.get().description,
        }
    ]
    assert body["audit"]["created"]["by"] == {"id": admin_token.public_id, "name": "Admin robot"}
    record = AuditRecord.objects.get(object_id=token.public_id)
    assert record.actor_type == "ApiToken"
    assert record.actor_id == admin_token.public_id
    # Read back: masked for everyone but the token itself.
    assert api.get(f"{URL}/{token.public_id}").json()["token"] == mask(token.public_id)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "name"),
        ({"name": ""}, 400, "name"),
        ({"name": 5}, 400, "name"),
        ({"name": "x" * 201}, 400, "name"),
        # "$" in a Python pattern also matches before a final newline; the name must not.
        ({"name": "Robot\n"}, 400, "name"),
        ({"name": "ok", "account": {"id": "ACC-0000-0000\n"}}, 400, "account"),
        ({"name": "ok", "icon": "i" * 256}, 400, "icon"),
        ({"name": "ok", "description": 7}, 400, "description"),
        ({"name": "ok", "status": "Disabled"}, 400, "status"),
        ({"name": "ok", "digest": "x"}, 400, "digest"),
        ({"name": "ok", "modules": "MOD-1756"}, 400, "modules"),
        ({"name": "ok", "modules": ["MOD-1756"]}, 400, "modules"),
        ({"name": "ok", "account": None}, 400, "account"),
        ({"name": "ok", "account": {"id": "nope"}}, 400, "account"),
        # A module the calling token does not hold cannot be granted (no escalation);
        # a module id that names no module is a field error (issue 13).
        ({"name": "ok", "modules": [{"id": "MOD-8352"}]}, 403, None),
        ({"name": "ok", "modules": [{"id": "MOD-0000"}]}, 400, "modules"),
        # An unknown account answers 404, like a foreign one (no way to tell them apart).
        ({"name": "ok", "account": {"id": "ACC-0000-0000"}}, 404, None),
    ],
)
def test_create_errors_name_the_problem_and_write_nothing(api, body, status, field):
    before = ApiToken.objects.count()
    response = api.send("post", URL, body)
    assert response.status_code == status, response.content
    if field is not None:
        assert field in response.json()["errors"]
    assert ApiToken.objects.count() == before


def test_create_in_another_account_is_refused_unless_operations(api, ops_api, globex):
    refused = api.send("post", URL, {"name": "x", "account": {"id": globex.public_id}})
    assert refused.status_code == 404  # the same answer as for an account that does not exist
    created = ops_api.send("post", URL, {"name": "x", "account": {"id": globex.public_id}})
    assert created.status_code == 201
    assert created.json()["account"]["id"] == globex.public_id


def test_update_changes_only_the_fields_sent(api, acme):
    token = TokenFactory(account=acme, name="Before", description="keep", modules=["MOD-1756"])
    response = api.send(
        "put", f"{URL}/{token.public_id}", {"name": "After", "account": {"id": acme.public_id}}
    )
    assert response.status_code == 200
    token.refresh_from_db()
    assert (token.name, token.description, token.status) == ("After", "keep", TokenStatus.ACTIVE)
    assert response.json()["modules"][0]["id"] == "MOD-1756"


def test_update_with_an_unknown_module_is_a_400_field_error_not_a_404(api, acme):
    # Found by Schemathesis (stateful): a 404 right after the create said the token was gone.
    token = TokenFactory(account=acme, name="Kept", modules=["MOD-1756"])
    response = api.send("put", f"{URL}/{token.public_id}", {"modules": [{"id": "MOD-0000"}]})
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {"modules": ["No such module: MOD-0000."]}


def test_update_refuses_a_different_account_and_read_only_fields(api, acme, globex):
    token = TokenFactory(account=acme, name="Same")
    moved = api.send("put", f"{URL}/{token.public_id}", {"account": {"id": globex.public_id}})
    assert moved.status_code == 409
    for body in ({"status": "Disabled"}, {"id": "TKN-1"}, {"icon": "x" * 256}):
        response = api.send("put", f"{URL}/{token.public_id}", body)
        assert response.status_code == 400
    token.refresh_from_db()
    assert (token.name, token.status, token.account_id) == ("Same", TokenStatus.ACTIVE, acme.pk)


def test_lifecycle_over_the_api(api, acme):
    token = TokenFactory(account=acme)
    path = f"{URL}/{token.public_id}"
    disabled = api.send("post", f"{path}/disable")
    assert disabled.status_code == 200
    assert disabled.json()["status"] == "Disabled"
    again = api.send("post", f"{path}/disable", {})
    assert again.status_code == 400
    assert "Disabled" in again.json()["detail"]
    assert api.send("post", f"{path}/enable", {"force": True}).status_code == 400
    assert api.send("post", f"{path}/enable", {}).json()["status"] == "Active"
    deleted = api.send("delete", path)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "Content-Type" not in deleted  # no body, so no (text/html) media type either
    assert api.get(path).status_code == 404
    assert api.send("post", f"{path}/enable").status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("put", ""), ("delete", ""), ("post", "/enable"), ("post", "/disable")],
)
def test_unknown_and_foreign_ids_are_404(api, globex, method, suffix):
    foreign = TokenFactory(account=globex)
    for token_id in ("TKN-0000-0000", foreign.public_id):
        path = f"{URL}/{token_id}{suffix}"
        response = (
            api.get(path)
            if method == "get"
            else api.send(method, path, {"name": "x"} if method == "put" else None)
        )
        assert response.status_code == 404, (token_id, response.content)
        assert response.json()["title"] == "Not Found"
    foreign.refresh_from_db()
    assert foreign.status == TokenStatus.ACTIVE


def test_foreign_tokens_never_appear_in_lists(api, globex):
    TokenFactory(account=globex, name="Globex secret project")
    body = api.get(URL, "limit=100").content.decode()
    assert "Globex secret project" not in body
    assert api.get(URL, "ilike(name,*Globex*)").json()["$meta"]["pagination"]["total"] == 0


@pytest.mark.parametrize(
    "query",
    [
        "account.id={b}",
        "eq(account.id,{b})",
        "in(account.id,({a},{b}))",
        "or(eq(account.id,{a}),eq(account.id,{b}))",
        "not(eq(account.id,{a}))",
        "eq(account.name,Globex)",
        "ilike(account.name,*)",
        "eq(account.type,Vendor)",
        "eq(id,{token})",
        "in(id,({token},{own}))",
        "eq(token,'{value}')",
        "eq(audit.created.by.id,{creator})",
        "ne(status,Active)",
        "any(modules,eq(id,MOD-1756))",
        "eq(modules.id,MOD-8352)",
        "limit=100&select=+modules,+audit&order=account.name",
    ],
)
def test_no_filter_reaches_another_accounts_tokens(api, acme, admin_token, globex, query):
    """Every filterable path that names an account, a token or its creator, and lists that
    would pull in Deleted or Disabled tokens: only the caller's own account ever answers."""
    creator = TokenFactory(account=globex, name="Globex creator", modules=["MOD-1756"])
    by_creator = Actor(
        id=creator.public_id,
        name=creator.name,
        type=ActorType.API_TOKEN,
        account_id=globex.public_id,
        account_name=globex.name,
    )
    target = TokenFactory(
        account=globex, name="Globex target", modules=["MOD-1756", "MOD-8352"], actor=by_creator
    )
    TokenFactory(account=globex, name="Globex sleeper", disabled=True)
    TokenFactory(account=globex, name="Globex gone", deleted=True)
    filled = query.format(
        a=acme.public_id,
        b=globex.public_id,
        token=target.public_id,
        own=admin_token.public_id,
        value=target.plain_value,
        creator=target.created_by_id,
    )
    response = api.get(URL, filled)
    assert response.status_code == 200, response.content
    body = response.json()
    assert "Globex" not in response.content.decode()
    assert {t["account"]["id"] for t in body["data"]} <= {acme.public_id}
    assert body["$meta"]["pagination"]["total"] == len(body["data"])


def test_an_operations_token_without_platform_account_management_sees_its_own_only(
    client, ops_account, acme
):
    TokenFactory(account=acme, name="Acme robot")
    token = TokenFactory(account=ops_account, name="Ops helper", modules=["MOD-1756"])
    body = Api(client, token.plain_value).get(URL, "limit=100").json()
    assert {t["account"]["id"] for t in body["data"]} == {ops_account.public_id}


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("put", ""), ("delete", ""), ("post", "/enable"), ("post", "/disable")],
)
def test_a_foreign_id_answers_exactly_like_an_unknown_one(api, globex, method, suffix):
    foreign = TokenFactory(account=globex)
    bodies = []
    for token_id in (foreign.public_id, "TKN-0000-0000"):
        path = f"{URL}/{token_id}{suffix}"
        response = (
            api.get(path)
            if method == "get"
            else api.send(method, path, {"name": "x"} if method == "put" else None)
        )
        body = response.json()
        assert response.status_code == 404
        bodies.append(
            {k: str(v).replace(token_id, "<id>") for k, v in body.items() if k != "traceId"}
        )
    assert bodies[0] == bodies[1]


def test_operations_see_every_account_including_deleted(ops_api, acme, globex):
    gone = TokenFactory(account=acme, deleted=True)
    TokenFactory(account=globex)
    body = ops_api.get(URL, "limit=100").json()
    statuses = {t["id"]: t["status"] for t in body["data"]}
    assert statuses[gone.public_id] == "Deleted"
    assert {t["account"]["id"] for t in body["data"]} >= {acme.public_id, globex.public_id}


def test_client_tokens_never_see_deleted_tokens(api, acme):
    gone = TokenFactory(account=acme, deleted=True)
    assert api.get(f"{URL}/{gone.public_id}").status_code == 404
    assert gone.public_id not in api.get(URL, "limit=100").content.decode()


def test_method_not_allowed_is_405_with_allow(api):
    response = api.send("patch", URL, {})
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        ('{"name": "x"}', "text/plain", 415),
        ("name=x", "application/x-www-form-urlencoded", 415),
        ('{"name": ', "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ("\xff", "application/json", 400),
    ],
)
def test_bodies_that_are_not_json_objects_are_refused(api, raw, content_type, status):
    response = api.send("post", URL, raw=raw, content_type=content_type)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    "content_type", ["text/json", "application/vnd.api+json", "application/json; charset=utf-8"]
)
def test_json_media_type_variants_are_accepted(api, content_type):
    response = api.send("post", URL, raw='{"name": "Variant"}', content_type=content_type)
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"name": "ok", "description": "a\x00b"},
        {"name": "ok", "modules": [{"id": "MOD-1756", "\x00": 1}]},
    ],
)
def test_a_nul_character_in_a_body_is_a_400_not_a_database_error(api, body):
    # Found by Schemathesis on PostgreSQL, which stores no U+0000 in text or jsonb: the insert
    # failed and the API answered 503 as if the database were down.
    before = ApiToken.objects.count()
    response = api.send("post", URL, body)
    assert response.status_code == 400, response.content
    assert "U+0000" in response.json()["detail"]
    assert ApiToken.objects.count() == before


def test_a_nul_character_in_a_query_or_an_id_is_refused(api):
    query = api.get(URL, "eq(name,a%00b)")
    assert query.status_code == 400
    assert "NUL" in query.json()["detail"]
    for path in (f"{URL}/TKN-0000-0000%00", f"{URL}/%00/enable"):
        response = api.get(path) if "enable" not in path else api.send("post", path)
        assert response.status_code == 404, (path, response.content)
        assert response["Content-Type"] == "application/problem+json"


def test_a_10_mb_body_is_refused_before_parsing(api, monkeypatch):
    assert api.get(URL).status_code == 200  # the first use from this address is recorded

    def explode(*args, **kwargs):
        raise AssertionError("the body must not be parsed")

    monkeypatch.setattr(json, "loads", explode)
    response = api.send("post", URL, raw="{" + " " * (10 * 1024 * 1024) + "}")
    assert response.status_code == 413


def test_unknown_urls_under_public_are_404_problems(api):
    for path in ("/public/v1/nothing", "/public/v2/accounts/api-tokens", f"{URL}/"):
        response = api.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"


def test_a_database_outage_is_a_503_problem(api, monkeypatch):
    from apitokens import api as tokens_api

    def down(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(tokens_api, "tokens_visible_to", down)
    response = api.get(URL)
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert "connection refused" not in response.content.decode()


def test_other_accounts_tokens_without_access_management_get_403(client, acme):
    token = TokenFactory(account=acme, modules=["MOD-0478"])
    response = Api(client, token.plain_value).get(URL)
    assert response.status_code == 403


def test_a_vendor_account_token_sees_its_own(client, globex):
    token = TokenFactory(account=globex, modules=["MOD-1756"])
    TokenFactory(account=AccountFactory(), name="Other")
    body = Api(client, token.plain_value).get(URL).json()
    assert [t["id"] for t in body["data"]] == [token.public_id]
