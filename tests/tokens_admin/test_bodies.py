"""Request bodies declared once (issue 14 item 6): the model that parses a body is the one
``openapi.json`` describes, and its errors read like the rest of the API's."""

from __future__ import annotations

import pytest

from apitokens.bodies import ApiTokenCreate, ApiTokenUpdate
from audit.bodies import AuditRecordCreate, EventTypeUpdate
from tokens_admin.api_urls import api_document
from tokens_admin.bodies import component_schemas, parse, parse_all
from tokens_admin.errors import ValidationFailed


def test_every_field_error_is_named_with_a_plain_message():
    with pytest.raises(ValidationFailed) as refused:
        parse(
            AuditRecordCreate,
            {"event": 5, "object": {"name": "x"}, "summary": "", "colour": "red"},
        )
    assert refused.value.errors == {
        "event": ["Expected a string."],
        "object": ["id: This field is required."],
        "summary": ["Must not be empty."],
        "colour": ["Unknown field."],
    }


def test_the_input_is_never_echoed_in_an_error():
    secret = "idt:TKN-1234-5678:" + "x" * 64
    with pytest.raises(ValidationFailed) as refused:
        parse(EventTypeUpdate, {"name": [secret], "description": secret * 40})
    assert secret not in str(refused.value.errors)
    assert refused.value.errors["description"] == ["At most 2000 characters."]


def test_parse_all_keeps_the_fields_that_were_right():
    body, errors = parse_all(ApiTokenUpdate, {"icon": 5, "modules": [{"id": "MOD-1756"}]})
    assert errors == {"icon": ["Expected a string."]}
    assert [m.id for m in body.modules] == ["MOD-1756"]
    assert body.sent() == {"modules"}


def test_an_explicit_null_is_refused_where_it_means_nothing():
    _, errors = parse_all(ApiTokenUpdate, {"name": None, "account": None, "modules": None})
    assert set(errors) == {"name", "account", "modules"}
    body, errors = parse_all(ApiTokenUpdate, {"description": None, "icon": None})
    assert errors == {}
    assert (body.description, body.icon) == (None, None)  # null clears them


def test_references_ignore_what_a_client_sends_back():
    body = parse(
        ApiTokenCreate,
        {"name": "x", "modules": [{"id": "MOD-1756", "name": "Access Management"}]},
    )
    assert body.modules[0].id == "MOD-1756"


def test_the_document_describes_the_models_that_parse():
    schemas = api_document()["components"]["schemas"]
    assert schemas["ApiTokenCreate"] == component_schemas(ApiTokenCreate)["ApiTokenCreate"]
    create = schemas["ApiTokenCreate"]
    assert create["additionalProperties"] is False
    assert create["required"] == ["name"]
    assert create["properties"]["name"]["maxLength"] == 200
    record = schemas["AuditRecordCreate"]["properties"]
    # Free-form JSON points at the no-NUL schema directly (no allOf wrapper, no titles).
    assert record["actor"] == {"$ref": "#/components/schemas/JsonWithoutNul"}
    assert "title" not in schemas["EventTypeUpdate"]
