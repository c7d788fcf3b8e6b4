"""``openapi.json``'s audit part: records and event types, their request bodies from
``audit/bodies.py`` (the models that parse them)."""

from __future__ import annotations

from typing import Any

from audit import api
from audit.bodies import AuditRecordCreate, EventTypeUpdate
from tokens_admin.bodies import component_schemas
from tokens_admin.openapi import (
    BODY_ERRORS,
    NOT_FOUND,
    STRING,
    Part,
    body_ref,
    get_operation,
    json_content,
    list_operation,
    operation,
    path_param,
    problem_response,
    ref,
)

# Where an event type's owner decides (issue 13): platform.* is Operations', extensions.* its
# first recorder's.
OWNED = {
    "403": problem_response(
        "HTTPS required, the token lacks the module, or the event type belongs to another account"
    )
}

SCHEMAS: dict[str, Any] = {
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
    **component_schemas(AuditRecordCreate, EventTypeUpdate),
}

PATHS: dict[str, Any] = {
    "/public/v1/audit/records": {
        "get": list_operation(
            "List audit records (render() fills templates)",
            "AuditRecord",
            api.RECORDS,
            api.RECORD_PROJECTION,
        ),
        "post": operation(
            "Record an integration's event (Vendor, Operations)",
            {"201": json_content(ref("AuditRecord"), "Created")},
            BODY_ERRORS,
            OWNED,
            requestBody=body_ref("AuditRecordCreate"),
        ),
    },
    "/public/v1/audit/records/{id}": {
        "parameters": [path_param("id", {"type": "string"})],
        "get": get_operation(
            "Get an audit record (add render() to fill templates)",
            "AuditRecord",
            api.RECORD_PROJECTION,
        ),
    },
    "/public/v1/audit/event-types": {
        "get": list_operation(
            "List audit event types", "EventType", api.EVENT_TYPES, api.EVENT_TYPE_PROJECTION
        ),
    },
    "/public/v1/audit/event-types/{id}": {
        "parameters": [path_param("id", {"type": "string"})],
        "get": get_operation("Get an audit event type", "EventType", api.EVENT_TYPE_PROJECTION),
        "put": operation(
            "Rename or describe an event type (its owner, or Operations)",
            {"200": json_content(ref("EventType"))},
            BODY_ERRORS,
            NOT_FOUND,
            OWNED,
            requestBody=body_ref("EventTypeUpdate"),
        ),
    },
}

PART = Part(paths=PATHS, schemas=SCHEMAS)
