"""``openapi.json``'s api-tokens part: paths, response schemas, and the request bodies from
``apitokens/bodies.py`` (the models that parse them)."""

from __future__ import annotations

from typing import Any

from apitokens import api
from apitokens.api_policy import TokenPolicyUpdate
from apitokens.bodies import ApiTokenCreate, ApiTokenUpdate, RotateBody
from tokens_admin.bodies import component_schemas
from tokens_admin.openapi import (
    BODY_ERRORS,
    CONFLICT,
    NOT_FOUND,
    STRING,
    Part,
    body_ref,
    get_operation,
    json_content,
    list_operation,
    operation,
    optional_empty_body,
    path_param,
    problem_response,
    ref,
)

TOKEN_ID = {"type": "string", "pattern": r"^TKN-\d{4}-\d{4}$", "examples": ["TKN-1234-5678"]}
# Where a token could widen what tokens may do (issue 13): it grants only modules it holds.
NO_ESCALATION = {
    "403": problem_response(
        "HTTPS required, the token lacks the module, grants a module it does not hold, or"
        " changes its own modules"
    )
}

TOKEN_PROPERTIES: dict[str, Any] = {
    "id": TOKEN_ID,
    "href": STRING,
    "name": STRING,
    "description": STRING,
    "icon": STRING,
    # Expired: an Active or Disabled token past expiresAt (derived, filterable).
    "status": {"enum": ["Active", "Disabled", "Deleted", "Expired"]},
    "lastAccessAt": {"type": "string", "format": "date-time"},
    # Absent: never expires.
    "expiresAt": {"type": "string", "format": "date-time"},
    # Where the token may be used from: CIDR ranges (a host as /32 or /128); empty: anywhere.
    "allowedIps": {"type": "array", "maxItems": 50, "items": STRING},
    # Only while a rotation's grace period lasts: until when the replaced value still works.
    "rotation": {
        "type": "object",
        "required": ["previousValidUntil"],
        "properties": {"previousValidUntil": {"type": "string", "format": "date-time"}},
    },
    "token": STRING,
    # select=+usage only: where and how much the token is used (counted without a database
    # write per request: up to a minute behind without Redis).
    "usage": {
        "type": "object",
        "required": ["recentIps", "daily"],
        "properties": {
            "lastAccessAt": {"type": "string", "format": "date-time"},
            "lastAccessIp": STRING,
            "lastAccessUserAgent": STRING,
            "recentIps": {
                "type": "array",
                "maxItems": 10,
                "items": {
                    "type": "object",
                    "required": ["ip", "firstSeen", "lastSeen"],
                    "properties": {
                        "ip": STRING,
                        "firstSeen": {"type": "string", "format": "date-time"},
                        "lastSeen": {"type": "string", "format": "date-time"},
                    },
                },
            },
            "daily": {
                "type": "array",
                "minItems": 30,
                "maxItems": 30,
                "items": {
                    "type": "object",
                    "required": ["day", "requests", "refused"],
                    "properties": {
                        "day": {"type": "string", "format": "date"},
                        "requests": {"type": "integer", "minimum": 0},
                        "refused": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
    },
    "account": ref("AccountRef"),
    "modules": {"type": "array", "items": ref("Module")},
    "audit": {
        "type": "object",
        "required": ["created", "updated"],
        "properties": {"created": ref("AuditStamp"), "updated": ref("AuditStamp")},
    },
}

SCHEMAS: dict[str, Any] = {
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
    # A token's account as read (the request bodies' AccountRef is only {"id": …}).
    "TokenAccount": {
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
    # As read (list, get): select can leave out anything but the id, and null fields are omitted.
    "ApiTokenSelected": {"type": "object", "required": ["id"], "properties": TOKEN_PROPERTIES},
    # As written (create, update, enable, disable): every default field, always.
    "ApiToken": {
        "type": "object",
        "required": ["id", "href", "name", "status", "token", "account"],
        "properties": TOKEN_PROPERTIES,
    },
    "TokenPolicy": {
        "type": "object",
        "required": ["account", "requireExpiry"],
        "properties": {
            "account": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": STRING, "name": STRING},
            },
            # Absent: no maximum.
            "maxLifetimeDays": {"type": "integer", "minimum": 1, "maximum": 3650},
            "requireExpiry": {"type": "boolean"},
            "audit": {
                "type": "object",
                "required": ["updated"],
                "properties": {"updated": ref("AuditStamp")},
            },
            # PUT only: the live tokens the new rules would refuse today (none is changed).
            "exceeding": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {
                        "id": TOKEN_ID,
                        "name": STRING,
                        "expiresAt": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    },
    **component_schemas(ApiTokenCreate, ApiTokenUpdate, TokenPolicyUpdate, RotateBody),
}
TOKEN_PROPERTIES["account"] = ref("TokenAccount")


def _token_path(suffix: str = "") -> str:
    return "/public/v1/accounts/api-tokens/{id}" + suffix


def _transition(summary: str) -> dict[str, Any]:
    return {
        "parameters": [path_param("id", TOKEN_ID)],
        "post": operation(
            summary,
            {"200": json_content(ref("ApiToken"))},
            BODY_ERRORS,
            NOT_FOUND,
            requestBody=optional_empty_body(),
        ),
    }


PATHS: dict[str, Any] = {
    "/public/v1/accounts/api-tokens": {
        "get": list_operation(
            "List API tokens (RQL filter in the query string)",
            "ApiTokenSelected",
            api.TOKENS,
            api.PROJECTION,
        ),
        "post": operation(
            "Create an API token; the response holds the full value once",
            {"201": json_content(ref("ApiToken"), "Created")},
            BODY_ERRORS,
            NOT_FOUND,
            CONFLICT,
            NO_ESCALATION,
            requestBody=body_ref("ApiTokenCreate"),
        ),
    },
    _token_path(): {
        "parameters": [path_param("id", TOKEN_ID)],
        "get": get_operation("Get an API token", "ApiTokenSelected", api.PROJECTION),
        "put": operation(
            "Change the fields sent",
            {"200": json_content(ref("ApiToken"))},
            BODY_ERRORS,
            NOT_FOUND,
            CONFLICT,
            NO_ESCALATION,
            requestBody=body_ref("ApiTokenUpdate"),
        ),
        "delete": operation("Delete (terminal)", {"204": {"description": "Deleted"}}, NOT_FOUND),
    },
    _token_path("/enable"): _transition("Enable a Disabled token (not an expired one)"),
    _token_path("/disable"): _transition("Disable an Active token"),
    _token_path("/rotate"): {
        "parameters": [path_param("id", TOKEN_ID)],
        "post": operation(
            "A new value at once (in token); the old one works until"
            " rotation.previousValidUntil. A token may rotate itself.",
            {"200": json_content(ref("ApiToken"))},
            BODY_ERRORS,
            NOT_FOUND,
            CONFLICT,
            requestBody={
                "required": False,
                "content": {"application/json": {"schema": ref("RotateBody")}},
            },
        ),
    },
}

ACCOUNT_QUERY = {
    "name": "account.id",
    "in": "query",
    "required": False,
    "description": "Another account (Operations with Platform Account Management only)",
    "schema": {"type": "string", "pattern": r"^ACC-\d{4}-\d{4}$"},
}
PATHS["/public/v1/accounts/api-token-policy"] = {
    "parameters": [ACCOUNT_QUERY],
    "get": operation(
        "The account's token lifetime policy", {"200": json_content(ref("TokenPolicy"))}, NOT_FOUND
    ),
    "put": operation(
        "Change the policy's fields sent; answers with the tokens it would refuse",
        {"200": json_content(ref("TokenPolicy"))},
        BODY_ERRORS,
        NOT_FOUND,
        requestBody=body_ref("TokenPolicyUpdate"),
    ),
}

PART = Part(paths=PATHS, schemas=SCHEMAS)
