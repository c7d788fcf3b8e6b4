"""``record()``: the one way anything is written to the audit trail."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.chain import PLATFORM_CHAIN, link
from audit.models import AuditChain, AuditRecord, EventType
from audit.types import Actor, ObjectRef, RequestContext
from tokens_admin.logging import redact_credentials as redact
from tokens_admin.public_ids import ID_ATTEMPTS, insert_with_public_id, new_public_id

EVENT_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+){2,}$")
# Keys whose values are secrets wherever they appear in a document.
SECRET_KEYS = frozenset(
    {"token", "value", "secret", "digest", "ciphertext", "password", "authorization"}
)
MASKED = "[MASKED]"


class AuditError(Exception):
    pass


class AuditOutsideTransaction(AuditError):
    """``record()`` was called outside ``transaction.atomic()``: the change and its record
    must commit or roll back together."""


def mask_secrets(value: Any, key: str | None = None) -> Any:
    """A copy of ``value`` with secret-named keys masked and token-shaped strings redacted."""
    if isinstance(value, dict):
        return {str(k): mask_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_secrets(item) for item in value]
    if key is not None and key.lower() in SECRET_KEYS and value not in (None, ""):
        return MASKED
    if isinstance(value, str):
        return redact(value)
    return value


def event_name(key: str) -> str:
    """``platform.accounts.api_token.status_changed`` -> ``Api token status changed``."""
    parts = key.split(".")
    text = " ".join(parts[-2:]).replace("_", " ").replace("-", " ")
    return text[:1].upper() + text[1:]


def event_type_for(key: str, *, owner_account_id: str = "") -> EventType:
    """The event type of ``key``, created on first use. An ``extensions.*`` type created
    here belongs to ``owner_account_id`` (the account recording it first); the platform's own
    types belong to no account."""
    found = EventType.objects.filter(key=key).first()
    if found is not None:
        return found
    owner = owner_account_id if key.startswith("extensions.") else ""
    try:
        with transaction.atomic():
            return insert_with_public_id(
                EventType(key=key, name=event_name(key), owner_account_id=owner),
                prefix="AET",
                groups=2,
            )
    except IntegrityError:
        # Another transaction created it first.
        return EventType.objects.get(key=key)


def _lock_chain(key: str) -> AuditChain:
    head = AuditChain.objects.select_for_update().filter(key=key).first()
    if head is not None:
        return head
    try:
        with transaction.atomic():
            AuditChain.objects.create(key=key)
    except IntegrityError:
        pass  # created concurrently; lock theirs
    return AuditChain.objects.select_for_update().get(key=key)


def _lock_chains(keys: set[str]) -> dict[str, AuditChain]:
    """Lock every head named (creating missing ones), in key order so that two bulk writers
    cannot deadlock."""
    existing = set(AuditChain.objects.filter(key__in=keys).values_list("key", flat=True))
    AuditChain.objects.bulk_create(
        [AuditChain(key=key) for key in sorted(keys - existing)], ignore_conflicts=True
    )
    locked = AuditChain.objects.select_for_update().filter(key__in=keys).order_by("key")
    return {head.key: head for head in locked}


@dataclass(frozen=True, slots=True)
class Entry:
    """One record to append: what ``record()`` takes. ``timestamp`` defaults to now."""

    event: str
    obj: ObjectRef
    actor: Actor
    account_id: str | None
    summary: str
    details: str
    documents: dict[str, Any] | None = None
    request: RequestContext | None = None
    timestamp: datetime | None = None


def _check(entry: Entry) -> None:
    if not EVENT_KEY_RE.fullmatch(entry.event) or len(entry.event) > 200:
        raise AuditError(f"invalid event key {entry.event!r}")
    if not entry.summary.strip() or not entry.details.strip():
        # Every record says what happened in full (SPEC section 8): a reader of the trail,
        # or a client reading ``record.details``, never meets an empty one.
        raise AuditError(f"a {entry.event} record needs a summary and details")


def _columns(entry: Entry) -> dict[str, Any]:
    """The stored columns of ``entry``, secrets masked and text cut to size; the chain's own
    columns (``chain``, ``seq``, ``prev_hash``, ``hash``) and ``public_id`` come later."""
    request = entry.request or RequestContext.empty()
    obj, actor, documents = entry.obj, entry.actor, entry.documents
    return {
        "event_key": entry.event,
        "timestamp": entry.timestamp or timezone.now(),
        "account_id": entry.account_id or "",
        "object_id": obj.id[:32],
        "object_name": redact(obj.name)[:200],
        "object_type": obj.object_type[:64],
        "actor_id": actor.id[:32],
        "actor_name": redact(actor.name)[:200],
        "actor_type": str(actor.type),
        "actor_account_id": actor.account_id or "",
        "actor_account_name": (actor.account_name or "")[:200],
        "summary": redact(entry.summary)[:500],
        "details": redact(entry.details),
        "request_ip": request.ip[:64],
        "request_user_agent": redact(request.user_agent)[:500],
        "trace_id": request.trace_id[:55],
        # Through JSON once, so what is hashed now is exactly what the database gives back.
        "documents": json.loads(json.dumps(mask_secrets(documents or {}), cls=DjangoJSONEncoder)),
    }


def _in_transaction(what: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise AuditOutsideTransaction(f"audit.{what}() must run inside transaction.atomic()")


def record(
    *,
    event: str,
    obj: ObjectRef,
    actor: Actor,
    account_id: str | None,
    summary: str,
    details: str,
    documents: dict[str, Any] | None = None,
    request: RequestContext | None = None,
) -> AuditRecord:
    """Append one record to ``account_id``'s chain, inside the caller's transaction.

    ``summary`` is one line; ``details`` says what happened in full (each changed field with
    before and after, from and to, from where), in plain text.

    Refuses to run outside ``transaction.atomic()`` so a change can never commit without its
    record, nor a record without its change.
    """
    _in_transaction("record")
    entry = Entry(
        event=event,
        obj=obj,
        actor=actor,
        account_id=account_id,
        summary=summary,
        details=details,
        documents=documents,
        request=request,
    )
    _check(entry)
    event_type = event_type_for(event, owner_account_id=account_id or "")
    head = _lock_chain(account_id or PLATFORM_CHAIN)
    saved = _insert_linked(_columns(entry), head, event_type)
    head.save(update_fields=["last_seq", "last_hash"])
    return saved


def _insert_linked(fields: dict[str, Any], head: AuditChain, event: EventType) -> AuditRecord:
    """Insert ``fields`` as the next link after ``head`` under a random id, drawn again (and
    linked again from the same head) while it collides."""
    start = head.last_seq, head.last_hash
    for _ in range(ID_ATTEMPTS):
        head.last_seq, head.last_hash = start
        fields["public_id"] = new_public_id("AUD", 4)
        link(fields, head)
        saved = AuditRecord(event=event, **fields)
        try:
            with transaction.atomic():
                saved.save(force_insert=True)
        except IntegrityError:
            if AuditRecord.objects.filter(public_id=fields["public_id"]).exists():
                continue
            raise
        return saved
    raise AuditError("could not allocate an audit record id")  # pragma: no cover - 10^16 ids


# Writes rows (column name -> value; ``event`` is the event type's id) inside the transaction.
Insert = Callable[[Sequence[dict[str, Any]]], object]


def _bulk_create(rows: Sequence[dict[str, Any]]) -> None:
    AuditRecord.objects.bulk_create(
        [
            AuditRecord(event_id=row["event"], **{k: v for k, v in row.items() if k != "event"})
            for row in rows
        ]
    )


def _new_ids(count: int) -> list[str]:
    """``count`` random record ids, none twice (the database checks them against the rest)."""
    ids: dict[str, None] = {}
    while len(ids) < count:
        ids[new_public_id("AUD", 4)] = None
    return list(ids)


def _any_taken(ids: list[str], chunk: int = 1000) -> bool:
    return any(
        AuditRecord.objects.filter(public_id__in=ids[start : start + chunk]).exists()
        for start in range(0, len(ids), chunk)
    )


def append_many(entries: Sequence[Entry], *, insert: Insert = _bulk_create) -> int:
    """Append ``entries`` in order, inside the caller's transaction, exactly as ``record()``
    would one by one (same checks, masking and links), with one lock per chain and one insert:
    for generated data and imports. Returns how many were written.

    ``insert`` writes the finished rows; the default is ``bulk_create``, a bulk loader may
    pass a faster one (``COPY``). A batch whose random id collides is linked again, with
    fresh ids, from the same heads.
    """
    _in_transaction("append_many")
    if not entries:
        return 0
    types: dict[str, int] = {}
    for entry in entries:
        _check(entry)
        if entry.event not in types:
            # As record() would: an extensions.* type belongs to the account recording it first.
            owner = entry.account_id or ""
            types[entry.event] = event_type_for(entry.event, owner_account_id=owner).pk
    heads = _lock_chains({e.account_id or PLATFORM_CHAIN for e in entries})
    rows = [{**_columns(e), "event": types[e.event]} for e in entries]
    start = {key: (head.last_seq, head.last_hash) for key, head in heads.items()}
    for _ in range(ID_ATTEMPTS):
        for key, head in heads.items():
            head.last_seq, head.last_hash = start[key]
        for entry, row, public_id in zip(entries, rows, _new_ids(len(rows)), strict=True):
            row["public_id"] = public_id
            link(row, heads[entry.account_id or PLATFORM_CHAIN])
        try:
            with transaction.atomic():
                insert(rows)
        except IntegrityError:
            if _any_taken([row["public_id"] for row in rows]):
                continue
            raise
        break
    else:  # pragma: no cover - 10 collisions in a row
        raise AuditError("could not allocate audit record ids")
    for head in heads.values():
        head.save(update_fields=["last_seq", "last_hash"])
    return len(rows)
