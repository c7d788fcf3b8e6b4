"""The OpenAPI 3.1 description of ``/public/v1/`` (served as ``openapi.json``).

Written by hand from the same constants the views use; ``tests/tokens_admin/test_openapi.py``
proves every route and method here exists in the URL configuration and the other way round,
and a Schemathesis run checks the live server against it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from accounts import api as modules_api
from apitokens import api as tokens_api
from apitokens import services as token_services
from audit import api as audit_api
from tokens_admin.api import Projection, json_response
from tokens_admin.problems import problem
from tokens_admin.rql import Resource

TOKEN_ID = {"type": "string", "pattern": r"^TKN-\d{4}-\d{4}$", "examples": ["TKN-1234-5678"]}
REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


HEADER = {"schema": {"type": "string"}, "required": True}
TRACEPARENT = {
    "description": "The request's W3C trace context; the problem's traceId",
    "schema": {"type": "string", "pattern": r"^00-[0-9a-f]{32}-[0-9a-f]{16}-00$"},
    "required": True,
}


def _problem(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"traceparent": TRACEPARENT, **headers},
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


# What every operation can answer: a malformed query or Bearer header, bad credentials, plain
# HTTP or a missing module, the failure rate limit, the database down.
ERRORS = {
    "400": _problem("Bad request: invalid query or malformed credentials"),
    "401": _problem("Missing, malformed or invalid credentials", **{"WWW-Authenticate": HEADER}),
    "403": _problem("HTTPS required, or the token lacks the module"),
    "429": _problem("Too many failed authentications", **{"Retry-After": HEADER}),
    "503": _problem("Database unavailable", **{"Retry-After": HEADER}),
}
# Only where a path names an object, or a body references one.
NOT_FOUND = {"404": _problem("Not found (also for other accounts' objects)")}
# Only where the operation reads a body.
BODY_ERRORS = {
    "400": _problem("Bad request: invalid query, credentials, body or transition"),
    "413": _problem("Body too large"),
    "415": _problem("Body is not JSON"),
}
CONFLICT = {
    "409": _problem("The account's state refuses the request (module not enabled, account move)")
}
# Where a token could widen what tokens may do (issue 13): it grants only modules it holds.
NO_ESCALATION = {
    "403": _problem(
        "HTTPS required, the token lacks the module, grants a module it does not hold, or"
        " changes its own modules"
    )
}
# Where an event type's owner decides (issue 13): platform.* is Operations', extensions.* its
# first recorder's.
OWNED = {
    "403": _problem(
        "HTTPS required, the token lacks the module, or the event type belongs to another account"
    )
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _collection(item: str) -> dict[str, Any]:
    return _json(
        {
            "type": "object",
            "required": ["$meta", "data"],
            "properties": {
                "$meta": _ref("Meta"),
                "data": {"type": "array", "items": _ref(item)},
            },
        }
    )


def _comma_list(items: list[str], *, min_items: int) -> dict[str, Any]:
    """A comma-separated list of whitelisted items, as OpenAPI spells it (form, not exploded):
    ``?order=-name,+id`` is the array ``["-name", "+id"]``."""
    return {
        "style": "form",
        "explode": False,
        "schema": {"type": "array", "minItems": min_items, "items": {"enum": items}},
    }


def _signed(names: list[str], *, minus: list[str] | None = None) -> list[str]:
    """Each name bare, with ``+`` and with ``-`` (only those in ``minus`` when given)."""
    signed = [*names, *(f"+{n}" for n in names)]
    return signed + [f"-{n}" for n in (names if minus is None else minus)]


def select_parameter(projection: Projection) -> dict[str, Any]:
    fields = list(projection.known)
    return {
        "name": "select",
        "in": "query",
        # Empty is no projection: mpt-api-client 5.4 sends "?select=" on every get().
        **_comma_list(_signed(fields, minus=[f for f in fields if f != "id"]), min_items=0),
        "description": "field or +field adds ("
        + (", ".join(projection.optional) or "every field is returned by default")
        + "), -field leaves out (also a dotted path such as -actor.account); id is always"
        " returned; empty means the default fields",
    }


def list_parameters(resource: Resource, projection: Projection) -> list[dict[str, Any]]:
    """Paging, ordering and projection parameters, their items taken from the resource's
    whitelist (the same one the RQL compiler enforces)."""
    sortable = [name for name, spec in resource.fields.items() if spec.sortable]
    parameters: list[dict[str, Any]] = [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": 999999999},
            "description": "Page size (default 10; above 100 is capped to 100; 0 = total only)",
        },
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": 999999999},
        },
        {
            "name": "order",
            "in": "query",
            **_comma_list(_signed(sortable), min_items=1),
            "description": "Comma-separated fields, - for descending: "
            + ", ".join(sorted(sortable)),
        },
    ]
    parameters.append(select_parameter(projection))
    return parameters


def _path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _op(
    summary: str,
    responses: dict[str, Any],
    *errors: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    merged: dict[str, Any] = dict(ERRORS)
    for more in errors:
        merged.update(more)
    return {"summary": summary, "responses": {**responses, **merged}, **extra}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _optional_empty_body() -> dict[str, Any]:
    return {
        "required": False,
        "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}},
    }


STRING = {"type": "string"}
# Letters and digits of any script, spaces and - . ' " ; not only spaces (services.NAME_RE).
# Written without a lookahead (leading spaces, one non-space, then anything allowed): the same
# language, and generators such as Schemathesis draw from it many times faster.
NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": token_services.NAME_MAX,
    "pattern": r"^ *(?:[^\W_]|[\-.'\"])(?:[^\W_]|[ \-.'\"])*$",
}
# No text the API stores may hold U+0000 (PostgreSQL keeps it in neither text nor jsonb), so
# request bodies say so: every string, and every key and value of free-form JSON.
NO_NUL = r"^[^\u0000]*$"
TEXT = {"type": "string", "pattern": NO_NUL}
ANY_JSON = _ref("JsonWithoutNul")
# Extra keys in a module reference are ignored (a client may send back a whole module).
# Only the catalogue's ids exist; one that matches the pattern but names no module is a 400
# field error of ``modules`` (issue 13), which no schema can say.
MODULE_REF = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "string", "pattern": r"^MOD-\d{4}$"}},
    "propertyNames": TEXT,
    "additionalProperties": ANY_JSON,
}
# Extra keys are ignored here too (a client may send back the account of a token it read).
ACCOUNT_REF = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "string", "pattern": r"^ACC-[0-9]{4}-[0-9]{4}$"}},
    "propertyNames": TEXT,
    "additionalProperties": ANY_JSON,
}
NULLABLE_DESCRIPTION = {
    "type": ["string", "null"],
    "maxLength": token_services.DESCRIPTION_MAX,
    "pattern": NO_NUL,
}
NULLABLE_ICON = {"type": ["string", "null"], "maxLength": 255, "pattern": NO_NUL}

TOKEN_PROPERTIES: dict[str, Any] = {
    "id": TOKEN_ID,
    "href": STRING,
    "name": STRING,
    "description": STRING,
    "icon": STRING,
    "status": {"enum": ["Active", "Disabled", "Deleted"]},
    "lastAccessAt": {"type": "string", "format": "date-time"},
    "token": STRING,
    "account": _ref("AccountRef"),
    "modules": {"type": "array", "items": _ref("Module")},
    "audit": {
        "type": "object",
        "required": ["created", "updated"],
        "properties": {"created": _ref("AuditStamp"), "updated": _ref("AuditStamp")},
    },
}

SCHEMAS: dict[str, Any] = {
    "JsonWithoutNul": {
        "description": "Any JSON value whose strings and keys hold no U+0000",
        "anyOf": [
            {"type": ["null", "boolean", "number"]},
            TEXT,
            {"type": "array", "items": ANY_JSON},
            {"type": "object", "propertyNames": TEXT, "additionalProperties": ANY_JSON},
        ],
    },
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail", "traceId"],
        "properties": {
            "type": STRING,
            "title": STRING,
            "status": {"type": "integer"},
            "detail": STRING,
            "instance": STRING,
            "traceId": {"type": "string", "pattern": r"^00-[0-9a-f]{32}-[0-9a-f]{16}-00$"},
            "errors": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": STRING},
            },
        },
    },
    "AuditStamp": {
        "type": "object",
        "required": ["at", "by"],
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "by": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": STRING, "name": STRING},
            },
        },
    },
    "Meta": {
        "type": "object",
        "required": ["pagination"],
        "properties": {
            "pagination": {
                "type": "object",
                "required": ["offset", "limit", "total"],
                "properties": {
                    "offset": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "total": {"type": "integer"},
                },
            },
            "omitted": {"type": "array", "items": STRING},
        },
    },
    "AccountRef": {
        "type": "object",
        "required": ["id", "href", "name", "type", "status"],
        "properties": {
            "id": STRING,
            "href": STRING,
            "name": STRING,
            "type": {"enum": ["Client", "Vendor", "Operations"]},
            "status": {"enum": ["Active", "Disabled"]},
        },
    },
    # As read: select can leave out anything but the id.
    "Module": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "pattern": r"^MOD-\d{4}$"},
            "href": STRING,
            "name": STRING,
            "description": STRING,
            "code": STRING,
            "accountTypes": {"type": "array", "items": STRING},
        },
    },
    # As read (list, get): select can leave out anything but the id, and null fields are omitted.
    "ApiTokenSelected": {
        "type": "object",
        "required": ["id"],
        "properties": TOKEN_PROPERTIES,
    },
    # As written (create, update, enable, disable): every default field, always.
    "ApiToken": {
        "type": "object",
        "required": ["id", "href", "name", "status", "token", "account"],
        "properties": TOKEN_PROPERTIES,
    },
    "ApiTokenCreate": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "account": ACCOUNT_REF,
            "name": NAME,
            "description": NULLABLE_DESCRIPTION,
            "icon": NULLABLE_ICON,
            "modules": {"type": "array", "items": MODULE_REF},
        },
    },
    "ApiTokenUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "account": ACCOUNT_REF,
            "name": NAME,
            "description": NULLABLE_DESCRIPTION,
            "icon": NULLABLE_ICON,
            "modules": {"type": "array", "items": MODULE_REF},
        },
    },
    # As read: select can leave out anything but the id; details are never empty.
    "AuditRecord": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": STRING,
            "href": STRING,
            "event": STRING,
            "object": {"type": "object"},
            "actor": {"type": "object"},
            "timestamp": {"type": "string", "format": "date-time"},
            "summary": {"type": "string", "minLength": 1},
            "details": {"type": "string", "minLength": 1},
            "request": {"type": "object"},
            "documents": {"type": "object"},
        },
    },
    "AuditRecordCreate": {
        "type": "object",
        "required": ["event", "object", "summary"],
        "additionalProperties": False,
        "properties": {
            "event": {
                "type": "string",
                "maxLength": 200,
                "pattern": audit_api.EXTENSION_EVENT_RE.pattern,
            },
            "object": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {**TEXT, "minLength": 1, "maxLength": 32},
                    "name": {**TEXT, "maxLength": 200},
                    "objectType": {**TEXT, "maxLength": 64},
                },
                "propertyNames": TEXT,
                "additionalProperties": ANY_JSON,
            },
            "summary": {**TEXT, "minLength": 1, "maxLength": 500},
            "details": {**TEXT, "maxLength": 10000},
            "documents": {
                "type": "object",
                "propertyNames": TEXT,
                "additionalProperties": ANY_JSON,
            },
            "actor": ANY_JSON,
            "payload": ANY_JSON,
        },
    },
    "EventType": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": STRING,
            "href": STRING,
            "key": STRING,
            "name": STRING,
            "description": STRING,
        },
    },
    "EventTypeUpdate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            # Not blank, no U+0000.
            "name": {
                "type": "string",
                "maxLength": 200,
                "pattern": r"^[^\u0000]*[^\s\u0000][^\u0000]*$",
            },
            "description": {**TEXT, "maxLength": 2000},
        },
    },
}


def _token_path(suffix: str = "") -> str:
    return "/public/v1/accounts/api-tokens/{id}" + suffix


PATHS: dict[str, Any] = {
    "/public/v1/accounts/api-tokens": {
        "get": _op(
            "List API tokens (RQL filter in the query string)",
            {"200": _collection("ApiTokenSelected")},
            parameters=list_parameters(tokens_api.TOKENS, tokens_api.PROJECTION),
        ),
        "post": _op(
            "Create an API token; the response holds the full value once",
            {"201": _json(_ref("ApiToken"), "Created")},
            BODY_ERRORS,
            NOT_FOUND,
            CONFLICT,
            NO_ESCALATION,
            requestBody=_body("ApiTokenCreate"),
        ),
    },
    _token_path(): {
        "parameters": [_path_param("id", TOKEN_ID)],
        "get": _op(
            "Get an API token",
            {"200": _json(_ref("ApiTokenSelected"))},
            NOT_FOUND,
            parameters=[select_parameter(tokens_api.PROJECTION)],
        ),
        "put": _op(
            "Change the fields sent",
            {"200": _json(_ref("ApiToken"))},
            BODY_ERRORS,
            NOT_FOUND,
            CONFLICT,
            NO_ESCALATION,
            requestBody=_body("ApiTokenUpdate"),
        ),
        "delete": _op("Delete (terminal)", {"204": {"description": "Deleted"}}, NOT_FOUND),
    },
    _token_path("/enable"): {
        "parameters": [_path_param("id", TOKEN_ID)],
        "post": _op(
            "Enable a Disabled token",
            {"200": _json(_ref("ApiToken"))},
            BODY_ERRORS,
            NOT_FOUND,
            requestBody=_optional_empty_body(),
        ),
    },
    _token_path("/disable"): {
        "parameters": [_path_param("id", TOKEN_ID)],
        "post": _op(
            "Disable an Active token",
            {"200": _json(_ref("ApiToken"))},
            BODY_ERRORS,
            NOT_FOUND,
            requestBody=_optional_empty_body(),
        ),
    },
    "/public/v1/accounts/modules": {
        "get": _op(
            "List modules (Operations)",
            {"200": _collection("Module")},
            parameters=list_parameters(modules_api.MODULES, modules_api.PROJECTION),
        ),
    },
    "/public/v1/accounts/modules/{id}": {
        "parameters": [_path_param("id", {"type": "string"})],
        "get": _op(
            "Get a module (Operations)",
            {"200": _json(_ref("Module"))},
            NOT_FOUND,
            parameters=[select_parameter(modules_api.PROJECTION)],
        ),
    },
    "/public/v1/audit/records": {
        "get": _op(
            "List audit records",
            {"200": _collection("AuditRecord")},
            parameters=list_parameters(audit_api.RECORDS, audit_api.RECORD_PROJECTION),
        ),
        "post": _op(
            "Record an integration's event (Vendor, Operations)",
            {"201": _json(_ref("AuditRecord"), "Created")},
            BODY_ERRORS,
            OWNED,
            requestBody=_body("AuditRecordCreate"),
        ),
    },
    "/public/v1/audit/records/{id}": {
        "parameters": [_path_param("id", {"type": "string"})],
        "get": _op(
            "Get an audit record (add render() to fill templates)",
            {"200": _json(_ref("AuditRecord"))},
            NOT_FOUND,
            parameters=[select_parameter(audit_api.RECORD_PROJECTION)],
        ),
    },
    "/public/v1/audit/event-types": {
        "get": _op(
            "List audit event types",
            {"200": _collection("EventType")},
            parameters=list_parameters(audit_api.EVENT_TYPES, audit_api.EVENT_TYPE_PROJECTION),
        ),
    },
    "/public/v1/audit/event-types/{id}": {
        "parameters": [_path_param("id", {"type": "string"})],
        "get": _op(
            "Get an audit event type",
            {"200": _json(_ref("EventType"))},
            NOT_FOUND,
            parameters=[select_parameter(audit_api.EVENT_TYPE_PROJECTION)],
        ),
        "put": _op(
            "Rename or describe an event type (its owner, or Operations)",
            {"200": _json(_ref("EventType"))},
            BODY_ERRORS,
            NOT_FOUND,
            OWNED,
            requestBody=_body("EventTypeUpdate"),
        ),
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tokens-admin public API",
            "version": "1.0.0",
            "description": "Wire-compatible with the SoftwareOne Marketplace Platform's API tokens, modules and audit endpoints.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
        "paths": PATHS,
    }


def openapi_json(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return problem(request, 405, "Use GET.", headers={"Allow": "GET"})
    return json_response(document())
