"""``record()``: the one way anything is written to the audit trail."""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.chain import GENESIS, PLATFORM_CHAIN, record_hash
from audit.models import AuditChain, AuditRecord, EventType
from audit.types import Actor, ObjectRef, RequestContext
from tokens_admin.logging import redact_credentials as redact
from tokens_admin.public_ids import insert_with_public_id, new_public_id

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
    if not transaction.get_connection().in_atomic_block:
        raise AuditOutsideTransaction("audit.record() must run inside transaction.atomic()")
    if not EVENT_KEY_RE.fullmatch(event) or len(event) > 200:
        raise AuditError(f"invalid event key {event!r}")
    if not summary.strip() or not details.strip():
        # Every record says what happened in full (SPEC section 8): a reader of the trail,
        # or a client reading ``record.details``, never meets an empty one.
        raise AuditError(f"a {event} record needs a summary and details")
    request = request or RequestContext.empty()
    event_type = event_type_for(event, owner_account_id=account_id or "")
    chain_key = account_id or PLATFORM_CHAIN
    head = _lock_chain(chain_key)
    fields: dict[str, Any] = {
        "chain": chain_key,
        "seq": head.last_seq + 1,
        "event_key": event,
        "timestamp": timezone.now(),
        "account_id": account_id or "",
        "object_id": obj.id[:32],
        "object_name": redact(obj.name)[:200],
        "object_type": obj.object_type[:64],
        "actor_id": actor.id[:32],
        "actor_name": redact(actor.name)[:200],
        "actor_type": str(actor.type),
        "actor_account_id": actor.account_id or "",
        "actor_account_name": (actor.account_name or "")[:200],
        "summary": redact(summary)[:500],
        "details": redact(details),
        "request_ip": request.ip[:64],
        "request_user_agent": redact(request.user_agent)[:500],
        "trace_id": request.trace_id[:55],
        # Through JSON once, so what is hashed now is exactly what the database gives back.
        "documents": json.loads(json.dumps(mask_secrets(documents or {}), cls=DjangoJSONEncoder)),
        "prev_hash": head.last_hash or GENESIS,
    }
    for _ in range(10):
        fields["public_id"] = new_public_id("AUD", 4)
        fields["hash"] = record_hash(fields)
        entry = AuditRecord(event=event_type, **fields)
        try:
            with transaction.atomic():
                entry.save(force_insert=True)
        except IntegrityError:
            if AuditRecord.objects.filter(public_id=fields["public_id"]).exists():
                continue
            raise
        break
    else:  # pragma: no cover - 10 collisions in a space of 10^16
        raise AuditError("could not allocate an audit record id")
    head.last_seq = entry.seq
    head.last_hash = entry.hash
    head.save(update_fields=["last_seq", "last_hash"])
    return entry
