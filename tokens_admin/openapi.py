"""The OpenAPI 3.1 description of ``/public/v1/`` (served as ``openapi.json``).

Written by hand from the same constants the views use; ``tests/tokens_admin/test_openapi.py``
proves every route and method here exists in the URL configuration and the other way round,
and a Schemathesis run checks the live server against it.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, HttpResponse

from accounts import api as modules_api
from apitokens import api as tokens_api
from apitokens import services as token_services
from audit import api as audit_api
from tokens_admin.api import json_response
from tokens_admin.problems import problem
from tokens_admin.rql import Resource

TOKEN_ID = {"type": "string", "pattern": r"^TKN-\d{4}-\d{4}$", "examples": ["TKN-1234-5678"]}
REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


ERRORS = {
    "400": _problem("Bad request: invalid query, body or transition"),
    "401": _problem("Missing, malformed or invalid credentials"),
    "403": _problem("HTTPS required, or the token lacks the module"),
    "404": _problem("Not found (also for other accounts' objects)"),
    "413": _problem("Body too large"),
    "415": _problem("Body is not JSON"),
    "429": _problem("Too many failed authentications"),
    "503": _problem("Database unavailable"),
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


def _alternatives(names: list[str]) -> str:
    return "(?:" + "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n))) + ")"


def _signed_list(item: str) -> str:
    return f"^{item}(?:,{item})*$"


def list_parameters(resource: Resource, *, select: bool = False) -> list[dict[str, Any]]:
    """Paging and ordering parameters, their patterns built from the resource's whitelist."""
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
            "schema": {
                "type": "string",
                "pattern": _signed_list("[+-]?" + _alternatives(sortable)),
            },
            "description": "Comma-separated fields, - for descending: "
            + ", ".join(sorted(sortable)),
        },
    ]
    if select:
        fields = list(tokens_api.ALL_FIELDS)
        item = f"(?:\\+?{_alternatives(fields)}|-{_alternatives([f for f in fields if f != 'id'])})"
        parameters.append(
            {
                "name": "select",
                "in": "query",
                "schema": {"type": "string", "pattern": _signed_list(item)},
                "description": "+field adds (modules, audit), -field removes, bare fields pick",
            }
        )
    return parameters


def _path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**responses, **ERRORS}, **extra}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _optional_empty_body() -> dict[str, Any]:
    return {
        "required": False,
        "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}},
    }


STRING = {"type": "string"}
# Letters and digits of any script, spaces and - . ' " ; not only spaces (services.NAME_RE).
NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": token_services.NAME_MAX,
    "pattern": r"^(?=.*[^ ])(?:[^\W_]|[ \-.'\"])+$",
}
ACCOUNT_REF = {
    "type": "object",
    "required": ["id"],
    "properties": {"id": {"type": "string", "pattern": r"^ACC-[0-9]{4}-[0-9]{4}$"}},
}
MODULE_REF = {"type": "object", "required": ["id"], "properties": {"id": STRING}}
NULLABLE_DESCRIPTION = {"type": ["string", "null"], "maxLength": token_services.DESCRIPTION_MAX}
NULLABLE_ICON = {"type": ["string", "null"], "maxLength": 255}

SCHEMAS: dict[str, Any] = {
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
        "properties": {
            "id": STRING,
            "href": STRING,
            "name": STRING,
            "type": {"enum": ["Client", "Vendor", "Operations"]},
            "status": {"enum": ["Active", "Disabled"]},
        },
    },
    "Module": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "string", "pattern": r"^MOD-\d{4}$"},
            "href": STRING,
            "name": STRING,
            "description": STRING,
            "code": STRING,
            "accountTypes": {"type": "array", "items": STRING},
        },
    },
    "ApiToken": {
        "type": "object",
        "required": ["id", "name", "status"],
        "properties": {
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
            "audit": {"type": "object"},
        },
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
    "AuditRecord": {
        "type": "object",
        "required": ["id", "event", "object", "actor", "timestamp"],
        "properties": {
            "id": STRING,
            "href": STRING,
            "event": STRING,
            "object": {"type": "object"},
            "actor": {"type": "object"},
            "timestamp": {"type": "string", "format": "date-time"},
            "summary": STRING,
            "details": STRING,
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
                "pattern": r"^extensions\.[a-z0-9][a-z0-9_-]*\.[a-z0-9][a-z0-9_.-]*$",
            },
            "object": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string", "maxLength": 32},
                    "name": {"type": "string", "maxLength": 200},
                    "objectType": {"type": "string", "maxLength": 64},
                },
            },
            "summary": {"type": "string", "maxLength": 500},
            "details": {"type": "string", "maxLength": 10000},
            "documents": {"type": "object"},
            "actor": {},
            "payload": {},
        },
    },
    "EventType": {
        "type": "object",
        "required": ["id", "key", "name"],
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
            "name": {"type": "string", "maxLength": 200, "pattern": r"\S"},
            "description": {"type": "string", "maxLength": 2000},
        },
    },
}


def _token_path(suffix: str = "") -> str:
    return "/public/v1/accounts/api-tokens/{id}" + suffix


PATHS: dict[str, Any] = {
    "/public/v1/accounts/api-tokens": {
        "get": _op(
            "List API tokens (RQL filter in the query string)",
            {"200": _collection("ApiToken")},
            parameters=list_parameters(tokens_api.TOKENS, select=True),
        ),
        "post": _op(
            "Create an API token; the response holds the full value once",
            {"201": _json(_ref("ApiToken"), "Created")},
            requestBody=_body("ApiTokenCreate"),
        ),
    },
    _token_path(): {
        "parameters": [_path_param("id", TOKEN_ID)],
        "get": _op(
            "Get an API token",
            {"200": _json(_ref("ApiToken"))},
            parameters=[
                p for p in list_parameters(tokens_api.TOKENS, select=True) if p["name"] == "select"
            ],
        ),
        "put": _op(
            "Change the fields sent",
            {"200": _json(_ref("ApiToken"))},
            requestBody=_body("ApiTokenUpdate"),
        ),
        "delete": _op("Delete (terminal)", {"204": {"description": "Deleted"}}),
    },
    _token_path("/enable"): {
        "parameters": [_path_param("id", TOKEN_ID)],
        "post": _op(
            "Enable a Disabled token",
            {"200": _json(_ref("ApiToken"))},
            requestBody=_optional_empty_body(),
        ),
    },
    _token_path("/disable"): {
        "parameters": [_path_param("id", TOKEN_ID)],
        "post": _op(
            "Disable an Active token",
            {"200": _json(_ref("ApiToken"))},
            requestBody=_optional_empty_body(),
        ),
    },
    "/public/v1/accounts/modules": {
        "get": _op(
            "List modules (Operations)",
            {"200": _collection("Module")},
            parameters=list_parameters(modules_api.MODULES),
        ),
    },
    "/public/v1/accounts/modules/{id}": {
        "parameters": [_path_param("id", {"type": "string"})],
        "get": _op("Get a module (Operations)", {"200": _json(_ref("Module"))}),
    },
    "/public/v1/audit/records": {
        "get": _op(
            "List audit records",
            {"200": _collection("AuditRecord")},
            parameters=list_parameters(audit_api.RECORDS),
        ),
        "post": _op(
            "Record an integration's event (Vendor, Operations)",
            {"201": _json(_ref("AuditRecord"), "Created")},
            requestBody=_body("AuditRecordCreate"),
        ),
    },
    "/public/v1/audit/records/{id}": {
        "parameters": [_path_param("id", {"type": "string"})],
        "get": _op(
            "Get an audit record (add render() to fill templates)",
            {"200": _json(_ref("AuditRecord"))},
        ),
    },
    "/public/v1/audit/event-types": {
        "get": _op(
            "List audit event types",
            {"200": _collection("EventType")},
            parameters=list_parameters(audit_api.EVENT_TYPES),
        ),
    },
    "/public/v1/audit/event-types/{id}": {
        "parameters": [_path_param("id", {"type": "string"})],
        "get": _op("Get an audit event type", {"200": _json(_ref("EventType"))}),
        "put": _op(
            "Rename or describe an event type (Vendor, Operations)",
            {"200": _json(_ref("EventType"))},
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
