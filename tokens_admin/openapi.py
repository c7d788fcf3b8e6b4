"""The OpenAPI 3.1 toolkit: what every part of ``openapi.json`` shares (problems, paging,
projection, the collection envelope) and the document built from each app's ``Part``.

Each app describes its own resources in its ``openapi.py``: paths, response schemas, and
request bodies generated from the pydantic models that parse them. ``tokens_admin/api_urls.py``,
which knows every app, puts the parts together. ``tests/tokens_admin/test_openapi.py`` proves
that every route and method of the document exists in the URL configuration and the other
way round, and a Schemathesis run checks the live server against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse

from tokens_admin.api import Projection, json_response
from tokens_admin.bodies import JSON_WITHOUT_NUL
from tokens_admin.problems import problem
from tokens_admin.rql_django import Resource

REF = "#/components/schemas/"
STRING: dict[str, Any] = {"type": "string"}
TRACE_ID = {"type": "string", "pattern": r"^00-[0-9a-f]{32}-[0-9a-f]{16}-00$"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


HEADER = {"schema": {"type": "string"}, "required": True}
TRACEPARENT = {
    "description": "The request's W3C trace context; the problem's traceId",
    "schema": TRACE_ID,
    "required": True,
}


def problem_response(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"traceparent": TRACEPARENT, **headers},
        "content": {"application/problem+json": {"schema": ref("Problem")}},
    }


# What every operation can answer: a malformed query or Bearer header, bad credentials, plain
# HTTP or a missing module, the failure rate limit, the database down.
ERRORS = {
    "400": problem_response("Bad request: invalid query or malformed credentials"),
    "401": problem_response(
        "Missing, malformed or invalid credentials", **{"WWW-Authenticate": HEADER}
    ),
    "403": problem_response("HTTPS required, or the token lacks the module"),
    "429": problem_response("Too many failed authentications", **{"Retry-After": HEADER}),
    "503": problem_response("Database unavailable", **{"Retry-After": HEADER}),
}
# Only where a path names an object, or a body references one.
NOT_FOUND = {"404": problem_response("Not found (also for other accounts' objects)")}
# Only where the operation reads a body.
BODY_ERRORS = {
    "400": problem_response("Bad request: invalid query, credentials, body or transition"),
    "413": problem_response("Body too large"),
    "415": problem_response("Body is not JSON"),
}
CONFLICT = {
    "409": problem_response(
        "The account's state refuses the request (module not enabled, account move)"
    )
}

SHARED_SCHEMAS: dict[str, Any] = {
    "JsonWithoutNul": JSON_WITHOUT_NUL,
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail", "traceId"],
        "properties": {
            "type": STRING,
            "title": STRING,
            "status": {"type": "integer"},
            "detail": STRING,
            "instance": STRING,
            "traceId": TRACE_ID,
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
}


def json_content(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def collection_of(item: str) -> dict[str, Any]:
    return json_content(
        {
            "type": "object",
            "required": ["$meta", "data"],
            "properties": {"$meta": ref("Meta"), "data": {"type": "array", "items": ref(item)}},
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
    page = {"type": "integer", "minimum": 0, "maximum": 999999999}
    return [
        {
            "name": "limit",
            "in": "query",
            "schema": page,
            "description": "Page size (default 10; above 100 is capped to 100; 0 = total only)",
        },
        {"name": "offset", "in": "query", "schema": page},
        {
            "name": "order",
            "in": "query",
            **_comma_list(_signed(sortable), min_items=1),
            "description": "Comma-separated fields, - for descending: "
            + ", ".join(sorted(sortable)),
        },
        select_parameter(projection),
    ]


def path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def operation(
    summary: str, responses: dict[str, Any], *errors: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    merged: dict[str, Any] = dict(ERRORS)
    for more in errors:
        merged.update(more)
    return {"summary": summary, "responses": {**responses, **merged}, **extra}


def list_operation(
    summary: str, schema: str, resource: Resource, projection: Projection
) -> dict[str, Any]:
    """``GET`` of a collection: RQL, paging, order and select over ``schema`` items."""
    return operation(
        summary,
        {"200": collection_of(schema)},
        parameters=list_parameters(resource, projection),
    )


def get_operation(summary: str, schema: str, projection: Projection) -> dict[str, Any]:
    """``GET`` of one object (404 for another account's), with select."""
    return operation(
        summary,
        {"200": json_content(ref(schema))},
        NOT_FOUND,
        parameters=[select_parameter(projection)],
    )


def body_ref(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


def optional_empty_body() -> dict[str, Any]:
    return {
        "required": False,
        "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}},
    }


@dataclass(frozen=True)
class Part:
    """One app's share of the document."""

    paths: dict[str, Any]
    schemas: dict[str, Any] = field(default_factory=dict)


def document(*parts: Part) -> dict[str, Any]:
    schemas = dict(SHARED_SCHEMAS)
    paths: dict[str, Any] = {}
    for part in parts:
        clash = (set(schemas) & set(part.schemas)) | (set(paths) & set(part.paths))
        if clash:
            raise ValueError(f"openapi parts define {sorted(clash)} twice")
        schemas.update(part.schemas)
        paths.update(part.paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tokens-admin public API",
            "version": "1.0.0",
            "description": "Wire-compatible with the SoftwareOne Marketplace Platform's API "
            "tokens, modules and audit endpoints.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    }


def openapi_view(build: Callable[[], dict[str, Any]]) -> Callable[[HttpRequest], HttpResponse]:
    """``GET /public/v1/openapi.json``: the document ``build`` makes, built once."""
    built: list[dict[str, Any]] = []

    def openapi_json(request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return problem(request, 405, "Use GET.", headers={"Allow": "GET"})
        if not built:
            built.append(build())
        return json_response(built[0])

    return openapi_json
