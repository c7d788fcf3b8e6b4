"""Bulk generation of valid, chained audit records, for benchmarks and load tests.

``record()`` appends one record per call, with a savepoint and a head update each time; that
is right for the application and far too slow for a million records. ``seed_records`` makes
whole batches of entries and hands each batch to ``audit.recorder.append_many``, the product's
own bulk writer: the same checks, masking, hashing and chain links as ``record()``, one lock per
chain and one insert per batch (here ``devtools.bulk.insert_rows``: ``COPY``, no model instance
per row), one transaction per batch. So ``audit verify`` accepts the result and ``record()`` can
carry on appending after it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.chain import PLATFORM_CHAIN
from audit.models import AuditRecord
from audit.recorder import Entry, append_many
from audit.types import Actor, ActorType, ObjectRef, RequestContext
from devtools.bulk import insert_rows

BATCH_SIZE = 5000
EVENTS = (
    "platform.accounts.api_token.created",
    "platform.accounts.api_token.updated",
    "platform.accounts.api_token.status_changed",
    "platform.accounts.api_token.value_revealed",
    "platform.accounts.user.signed_in",
)
MODULES = (("MOD-1756", "Access Management"), ("MOD-1425", "Billing"), ("MOD-2468", "Catalog"))
# Every column but the primary key.
COLUMNS = tuple(f.name for f in AuditRecord._meta.concrete_fields if not f.primary_key)
USER_AGENT = "seed/1.0"


def copy_rows(rows: Sequence[dict[str, Any]]) -> None:
    """``append_many``'s insert, through ``COPY`` (PostgreSQL) or one prepared ``INSERT``."""
    insert_rows(AuditRecord, COLUMNS, ([row[c] for c in COLUMNS] for row in rows))


@dataclass(frozen=True, slots=True)
class _Plan:
    """What every record of one run shares."""

    chains: Sequence[str]
    first: datetime
    step: timedelta
    rng: random.Random
    objects: Sequence[tuple[str, str]]


def seed_records(
    *,
    count: int,
    chains: Sequence[str],
    end: datetime | None = None,
    step: timedelta = timedelta(seconds=1),
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
    objects: Sequence[tuple[str, str]] = (),
) -> int:
    """Append ``count`` records spread round-robin over ``chains``; return how many were written.

    Chains continue from their current heads (new chains start at genesis); ``chains`` holds
    account ids or ``PLATFORM_CHAIN``. Timestamps run ``step`` apart and end at ``end``
    (default: now), so the records read back in seeding order. ``on_batch`` gets the running
    total after each committed batch. ``objects`` (token id, name) pairs, when given, are the
    tokens the records are about (picked at random); otherwise random token ids are made up.
    """
    if count < 0 or batch_size < 1 or not chains:
        raise ValueError("count >= 0, batch_size >= 1 and at least one chain are required")
    # Seeded from os.urandom: made-up ids must not repeat those of an earlier run.
    plan = _Plan(
        chains=chains,
        first=(end or timezone.now()) - step * (count - 1),
        step=step,
        rng=random.Random(),
        objects=objects,
    )
    done = 0
    while done < count:
        size = min(batch_size, count - done)
        entries = [_entry(plan, number) for number in range(done, done + size)]
        with transaction.atomic():
            append_many(entries, insert=copy_rows)
        done += size
        if on_batch is not None:
            on_batch(done)
    return done


def _entry(plan: _Plan, number: int) -> Entry:
    """Record ``number`` of the run: a sign-in, or one of four token events."""
    rng = plan.rng
    chain = plan.chains[number % len(plan.chains)]
    account_id = "" if chain == PLATFORM_CHAIN else chain
    event = EVENTS[number % len(EVENTS)]
    user_id = f"USR-{rng.randrange(10_000):04d}-{rng.randrange(10_000):04d}"
    ip = f"203.0.113.{number % 250 + 1}"
    actor = Actor(
        id=user_id,
        name="Seeded user",
        type=ActorType.USER,
        account_id=account_id,
        account_name=f"Account {account_id}" if account_id else "",
    )
    request = RequestContext(
        ip=ip,
        user_agent=USER_AGENT,
        trace_id=f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-00",
    )
    common: dict[str, Any] = {
        "event": event,
        "actor": actor,
        "account_id": account_id or None,
        "request": request,
        "timestamp": plan.first + plan.step * number,
    }
    if event.endswith("signed_in"):
        return Entry(
            obj=ObjectRef(id=user_id, name="Seeded user", object_type="User"),
            summary="User signed in",
            details=f"Seeded user signed in from {ip} ({USER_AGENT}).",
            **common,
        )
    return _token_entry(plan, number, common)


def _token_entry(plan: _Plan, number: int, common: dict[str, Any]) -> Entry:
    rng = plan.rng
    if plan.objects:
        token_id, name = plan.objects[rng.randrange(len(plan.objects))]
    else:
        token_id = f"TKN-{rng.randrange(10_000):04d}-{rng.randrange(10_000):04d}"
        name = f"Robot {number}"
    modules = MODULES[: 1 + number % len(MODULES)]
    snapshot = {
        "id": token_id,
        "name": name,
        "description": "",
        "status": "Active",
        "modules": [{"id": mod, "name": title} for mod, title in modules],
    }
    return Entry(
        obj=ObjectRef(id=token_id, name=name, object_type="ApiToken"),
        summary=f"API token {name} ({token_id}) seeded",
        details=f"API token {name} ({token_id}) seeded with modules: "
        + ", ".join(title for _mod, title in modules)
        + ".",
        documents={"token": snapshot},
        **common,
    )
