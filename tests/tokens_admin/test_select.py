"""``select`` on every resource and ``render()`` only where there are templates (issue 13
items 1 and 4): the platform's RQL projection, as its own client sends it."""

from __future__ import annotations

import pytest

from tests.apitokens.test_api import Api
from tests.factories import TokenFactory

TOKENS = "/public/v1/accounts/api-tokens"
MODULES = "/public/v1/accounts/modules"
RECORDS = "/public/v1/audit/records"
TYPES = "/public/v1/audit/event-types"


@pytest.fixture
def ops(client, ops_account):
    token = TokenFactory(
        account=ops_account, name="Ops robot", modules=["MOD-6271", "MOD-1756", "MOD-9042"]
    )
    return Api(client, token.plain_value)


@pytest.fixture
def record_id(ops):
    return ops.get(RECORDS).json()["data"][0]["id"]


def test_modules_take_the_clients_own_query_with_a_projection(ops):
    # Exactly what mpt-api-client sends for modules.filter(...).filter(...).select(...).
    response = ops.get(
        MODULES, "select=-description&and(eq(id,'MOD-1756'),eq(name,'Access Management'))"
    )
    assert response.status_code == 200, response.content
    [module] = response.json()["data"]
    assert module["id"] == "MOD-1756"
    assert "description" not in module
    assert module["name"] == "Access Management"
    one = ops.get(f"{MODULES}/MOD-1756", "select=-description,-accountTypes").json()
    assert set(one) == {"id", "href", "name", "code"}


def test_audit_records_project_top_level_and_nested_fields(ops, record_id):
    full = ops.get(f"{RECORDS}/{record_id}").json()
    assert {"object", "actor", "details", "request", "documents"} <= set(full)
    picked = ops.get(f"{RECORDS}/{record_id}", "select=object,actor,details&render()=").json()
    # Bare names add fields, as the platform's RQL does; they never take the others away.
    assert set(picked) == set(full)
    trimmed = ops.get(f"{RECORDS}/{record_id}", "select=-documents,-request,-actor.account")
    body = trimmed.json()
    assert "documents" not in body
    assert "request" not in body
    assert "account" not in body["actor"]
    assert body["actor"]["id"] == full["actor"]["id"]
    listed = ops.get(RECORDS, "select=-documents&limit=3").json()["data"]
    assert listed
    assert all("documents" not in r and r["details"] for r in listed)


def test_event_types_project_too(ops, record_id):
    [event_type] = ops.get(TYPES, "select=-description&limit=1").json()["data"]
    assert "description" not in event_type
    assert event_type["key"]
    one = ops.get(f"{TYPES}/{event_type['id']}", "select=-href,-name").json()
    assert set(one) <= {"id", "key", "description"}
    assert one["id"] == event_type["id"]


def test_tokens_add_with_bare_names_and_leave_out_with_minus(ops):
    [token] = ops.get(TOKENS, "select=modules,-description,-account.status&limit=1").json()["data"]
    assert "modules" in token
    assert "description" not in token
    assert "name" in token
    assert "status" not in token["account"]
    assert token["account"]["id"]


@pytest.mark.parametrize("path", [TOKENS, MODULES, RECORDS, TYPES])
@pytest.mark.parametrize(
    ("select", "message"),
    [("+secret", "cannot select 'secret'"), ("-id", "id cannot be left out"), ("a..b", "")],
)
def test_unknown_fields_in_select_stay_a_400_everywhere(ops, path, select, message):
    response = ops.get(path, f"select={select}")
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]


@pytest.mark.parametrize("path", [TOKENS, MODULES, f"{MODULES}/MOD-1756", TYPES])
def test_render_is_refused_where_there_is_nothing_to_render(ops, path):
    response = ops.get(path, "render()")
    assert response.status_code == 400, response.content
    assert "render() is not supported" in response.json()["detail"]


def test_render_on_a_token_itself_is_refused_too(client, acme):
    token = TokenFactory(account=acme, name="Self reader")
    response = Api(client, token.plain_value).get(f"{TOKENS}/{token.public_id}", "render()")
    assert response.status_code == 400
