"""State changes of the audit trail itself: integrations' own records and event types.

Who owns an event type: ``platform.*`` types are the product's, edited by Operations only;
an ``extensions.*`` type belongs to the account that first recorded it, and only that account
(or Operations) may record under it or edit it. Each function is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from audit.models import AuditRecord, EventType
from audit.recorder import event_type_for, record
from audit.types import Actor, ObjectRef, RequestContext
from tokens_admin.errors import DomainError, NotFound

PLATFORM_PREFIX = "platform."
EXTENSIONS_PREFIX = "extensions."
EVENT_TYPE_UPDATED = "platform.audit.event_type.updated"


class EventTypeNotFound(NotFound):
    pass


class EventTypeNotOwned(DomainError):
    """The caller's account may not record under, or edit, this event type."""

    status = 403


@dataclass(frozen=True, slots=True)
class Editor:
    """Who is acting on the audit trail: the actor, the account whose chain gets the record,
    and whether that account is an Operations account."""

    actor: Actor
    account_id: str
    operations: bool


def may_use(event_type: EventType, editor: Editor) -> bool:
    if editor.operations:
        return True
    if event_type.key.startswith(PLATFORM_PREFIX):
        return False
    return event_type.owner_account_id == editor.account_id


def _refuse(event_type: EventType, editor: Editor, verb: str) -> None:
    if may_use(event_type, editor):
        return
    owner = (
        "Operations"
        if event_type.key.startswith(PLATFORM_PREFIX)
        else "the account that first recorded it"
    )
    raise EventTypeNotOwned(
        f"Audit event type {event_type.key} belongs to {owner}; this account cannot {verb} it."
    )


def record_integration_event(
    *,
    event: str,
    obj: ObjectRef,
    summary: str,
    details: str,
    documents: dict[str, Any],
    editor: Editor,
    request: RequestContext | None = None,
) -> AuditRecord:
    """An integration's own record under ``extensions.*``. The first record of a key makes
    the caller's account its owner; a record under another account's key is refused (inside
    the transaction, so two accounts racing for a new key cannot both have it)."""
    with transaction.atomic():
        event_type = event_type_for(event, owner_account_id=editor.account_id)
        _refuse(event_type, editor, "record under")
        return record(
            event=event,
            obj=obj,
            actor=editor.actor,
            account_id=editor.account_id,
            summary=summary,
            # Details are never empty (SPEC section 8); an integration that sent none has
            # said all it had to say in its summary.
            details=details or summary,
            documents=documents,
            request=request,
        )


def _describe(changed: dict[str, dict[str, str]]) -> str:
    return "; ".join(
        f"{name.capitalize()}: {change['before']!r} → {change['after']!r}"
        for name, change in sorted(changed.items())
    )


def update_event_type(
    *,
    event_type_id: str,
    changes: dict[str, str],
    editor: Editor,
    visible: QuerySet[EventType],
    request: RequestContext | None = None,
) -> EventType:
    """Change an event type's name or description. The edit is recorded on the editor's
    chain and, when someone else owns the type, on the owner's chain too (the platform's
    chain for ``platform.*``), so the owner sees who renamed what they own."""
    with transaction.atomic():
        event_type = visible.select_for_update().filter(public_id=event_type_id).first()
        if event_type is None:
            raise EventTypeNotFound(f"Audit event type {event_type_id} was not found.")
        _refuse(event_type, editor, "edit")
        changed = {
            name: {"before": getattr(event_type, name), "after": value}
            for name, value in changes.items()
            if getattr(event_type, name) != value
        }
        if not changed:
            return event_type
        for name, value in changes.items():
            setattr(event_type, name, value)
        event_type.save(update_fields=[*changes, "updated_at"])
        platform = event_type.key.startswith(PLATFORM_PREFIX)
        owner_chain = None if platform else (event_type.owner_account_id or None)
        chains = [editor.account_id, *([owner_chain] if owner_chain != editor.account_id else [])]
        for account_id in chains:
            record(
                event=EVENT_TYPE_UPDATED,
                obj=ObjectRef(
                    id=event_type.public_id, name=event_type.key, object_type="AuditEventType"
                ),
                actor=editor.actor,
                account_id=account_id,
                summary=f"Audit event type {event_type.key} updated: {', '.join(sorted(changed))}",
                details=f"{_describe(changed)} (by {editor.actor.name}, {editor.actor.id}).",
                documents={"changes": changed},
                request=request,
            )
    return event_type
