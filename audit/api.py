"""``/public/v1/audit/records`` and ``/public/v1/audit/event-types`` (SPEC section 4.4).

Depends only on ``tokens_admin`` (the API toolkit), never on the other apps.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse

from audit.bodies import AuditRecordCreate, EventTypeUpdate
from audit.export import public_dict
from audit.models import AuditRecord, EventType
from audit.services import Editor, EventTypeNotFound, record_integration_event
from audit.services import update_event_type as update_event_type_service
from audit.types import Actor, ObjectRef
from tokens_admin.api import (
    Principal,
    Projection,
    Scope,
    collection,
    drop_nulls,
    endpoint,
    json_body,
    json_response,
    query_of,
)
from tokens_admin.bodies import parse
from tokens_admin.errors import NotFound, ValidationFailed
from tokens_admin.requests import request_context
from tokens_admin.rql_django import Compiler, Field, Resource

WRITERS = Scope(account_types=("Vendor", "Operations"))

EXTENSIONS_PREFIX = "extensions."
TEMPLATE_RE = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_.]*)\s*\}\}")

RECORDS = Resource(
    "audit records",
    {
        "id": Field("public_id"),
        "event": Field("event_key"),
        "timestamp": Field("timestamp", kind="datetime"),
        "object.id": Field("object_id"),
        "object.name": Field("object_name"),
        "object.objectType": Field("object_type"),
        "actor.id": Field("actor_id"),
        "actor.type": Field("actor_type"),
        "actor.account.id": Field("actor_account_id"),
        "summary": Field("summary", sortable=False),
    },
)
RECORD_PROJECTION = Projection(
    (
        "id",
        "href",
        "event",
        "object",
        "actor",
        "timestamp",
        "summary",
        "details",
        "request",
        "documents",
    )
)
EVENT_TYPE_PROJECTION = Projection(("id", "href", "key", "name", "description"))
EVENT_TYPES = Resource(
    "audit event types",
    {
        "id": Field("public_id"),
        "key": Field("key"),
        "name": Field("name"),
        "description": Field("description", sortable=False),
    },
)


class RecordNotFound(NotFound):
    pass


def visible_records(principal: Principal) -> QuerySet[AuditRecord]:
    records = AuditRecord.objects.defer("prev_hash", "hash")
    if principal.sees_all_accounts:
        return records
    return records.filter(account_id=principal.account_id)


def visible_event_types(principal: Principal) -> QuerySet[EventType]:
    """The platform's own event types are reference data for everyone. An integration's
    (``extensions.…``) was made by some account's records and names that account's business:
    it is visible to the accounts that recorded it, and to Operations."""
    types = EventType.objects.all()
    if principal.sees_all_accounts:
        return types
    recorded_here = AuditRecord.objects.filter(
        event=OuterRef("pk"), account_id=principal.account_id
    )
    return types.filter(~Q(key__startswith=EXTENSIONS_PREFIX) | Exists(recorded_here))


def record_json(entry: AuditRecord, *, render: bool = False) -> dict[str, Any]:
    data = public_dict(entry)
    data["href"] = f"/audit/records/{entry.public_id}"
    if not data["actor"]["account"]:
        del data["actor"]["account"]
    data["details"] = entry.shown_details
    if render:
        data["summary"] = render_template(entry.summary, data)
        data["details"] = render_template(data["details"], data)
    return drop_nulls({k: (v if v != "" else None) for k, v in data.items()})


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def render_template(text: str, data: dict[str, Any]) -> str:
    """Fill ``{{ object.name }}``-style placeholders from the record (its fields, then its
    documents); nothing is evaluated. A placeholder that names nothing printable renders
    empty, and no stray ``{{`` or ``}}`` survives: a rendered text is text, never a template
    (the platform's client shows it as is)."""

    def fill(match: re.Match[str]) -> str:
        path = match.group(1)
        value = _lookup(data, path)
        if value is None:
            value = _lookup(data.get("documents") or {}, path)
        if value is None or isinstance(value, dict | list):
            return ""
        return str(value)

    return TEMPLATE_RE.sub(fill, text).replace("{{", "").replace("}}", "")


def list_records(request: HttpRequest, principal: Principal) -> HttpResponse:
    query = query_of(request, render=True)
    fields = RECORD_PROJECTION.select(query)
    records = Compiler(RECORDS).apply(visible_records(principal), query, ("-timestamp", "-id"))
    total = records.count()
    page = list(records[query.offset : query.offset + query.limit]) if query.limit else []
    data = [fields.apply(record_json(r, render=query.render)) for r in page]
    return collection(data, query=query, total=total)


def _get_record(principal: Principal, record_id: str) -> AuditRecord:
    entry = visible_records(principal).filter(public_id=record_id).first()
    if entry is None:
        raise RecordNotFound(f"Audit record {record_id} was not found.")
    return entry


def get_record(request: HttpRequest, principal: Principal, record_id: str) -> HttpResponse:
    query = query_of(request, render=True)
    fields = RECORD_PROJECTION.select(query)
    entry = _get_record(principal, record_id)
    return json_response(fields.apply(record_json(entry, render=query.render)))


def create_record(request: HttpRequest, principal: Principal) -> HttpResponse:
    """Integrations record their own events; the calling token is always the actor."""
    body = parse(AuditRecordCreate, json_body(request))
    entry = record_integration_event(
        event=body.event,
        obj=ObjectRef(id=body.object.id, name=body.object.name, object_type=body.object.objectType),
        summary=body.summary,
        details=body.details,
        documents=body.kept_documents(),
        editor=_editor(principal),
        request=request_context(request),
    )
    return json_response(record_json(entry), status=201)


def _editor(principal: Principal) -> Editor:
    return Editor(
        actor=Actor.api_token(principal),
        account_id=principal.account_id,
        # Acting for the platform takes what seeing every account takes (SPEC 4.4).
        operations=principal.sees_all_accounts,
    )


def event_type_json(event_type: EventType) -> dict[str, Any]:
    return drop_nulls(
        {
            "id": event_type.public_id,
            "href": f"/audit/event-types/{event_type.public_id}",
            "key": event_type.key,
            "name": event_type.name,
            "description": event_type.description or None,
        }
    )


def list_event_types(request: HttpRequest, principal: Principal) -> HttpResponse:
    query = query_of(request)
    fields = EVENT_TYPE_PROJECTION.select(query)
    types = Compiler(EVENT_TYPES).apply(visible_event_types(principal), query, ("key", "id"))
    total = types.count()
    page = list(types[query.offset : query.offset + query.limit]) if query.limit else []
    return collection([fields.apply(event_type_json(t)) for t in page], query=query, total=total)


def _get_event_type(principal: Principal, event_type_id: str) -> EventType:
    found = visible_event_types(principal).filter(public_id=event_type_id).first()
    if found is None:
        raise EventTypeNotFound(f"Audit event type {event_type_id} was not found.")
    return found


def get_event_type(request: HttpRequest, principal: Principal, event_type_id: str) -> HttpResponse:
    fields = EVENT_TYPE_PROJECTION.select(query_of(request))
    return json_response(fields.apply(event_type_json(_get_event_type(principal, event_type_id))))


def update_event_type(
    request: HttpRequest, principal: Principal, event_type_id: str
) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    try:
        changes = parse(EventTypeUpdate, json_body(request)).changes()
    except ValidationFailed as exc:
        errors, changes = exc.errors, {}
    if errors:
        # A hidden type answers 404 before its body is judged (no existence oracle).
        _get_event_type(principal, event_type_id)
        raise ValidationFailed(errors)
    event_type = update_event_type_service(
        event_type_id=event_type_id,
        changes=changes,
        editor=_editor(principal),
        visible=visible_event_types(principal),
        request=request_context(request),
    )
    return json_response(event_type_json(event_type))


records_view = endpoint(write_scope=WRITERS, GET=list_records, POST=create_record)
record_view = endpoint(GET=get_record)
event_types_view = endpoint(GET=list_event_types)
event_type_view = endpoint(write_scope=WRITERS, GET=get_event_type, PUT=update_event_type)
