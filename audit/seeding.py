"""Bulk generation of valid, chained audit records, for benchmarks and load tests.

``record()`` appends one record per call, with a savepoint and a head update each time; that
is right for the application and far too slow for a million records. ``seed_records`` builds
whole batches in memory, hashes them with the same keyed ``record_hash`` the recorder uses,
inserts them as plain rows (``tokens_admin.bulk.insert_rows``: no model instance per row) and
moves each chain head, all in one transaction per batch, so ``audit verify`` accepts the result and
``record()`` can carry on appending after it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.chain import GENESIS, PLATFORM_CHAIN, record_hash
from audit.models import AuditChain, AuditRecord, EventType
from audit.recorder import event_type_for
from audit.types import ActorType
from tokens_admin.bulk import insert_rows

BATCH_SIZE = 5000
# A batch whose random public id collides with an existing one is rebuilt with fresh ids.
BATCH_ATTEMPTS = 5
EVENTS = (
    "platform.accounts.api_token.created",
    "platform.accounts.api_token.updated",
    "platform.accounts.api_token.status_changed",
    "platform.accounts.api_token.value_revealed",
    "platform.accounts.user.signed_in",
)
MODULES = (("MOD-1756", "Access Management"), ("MOD-1425", "Billing"), ("MOD-2468", "Catalog"))
# Every column but the primary key, in the order ``_build`` fills them.
COLUMNS = tuple(f.name for f in AuditRecord._meta.concrete_fields if not f.primary_key)


@dataclass(slots=True)
class _Head:
    seq: int
    hash: str


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
    # Seeded from os.urandom: ids must not repeat those of an earlier run on the same database.
    rng = random.Random()
    events = {key: event_type_for(key) for key in EVENTS}
    first = (end or timezone.now()) - step * (count - 1)
    done = 0
    while done < count:
        size = min(batch_size, count - done)
        for attempt in range(BATCH_ATTEMPTS):
            try:
                with transaction.atomic():
                    heads = _lock_heads(chains)
                    rows = [
                        _build(
                            chain=chains[(done + offset) % len(chains)],
                            heads=heads,
                            moment=first + step * (done + offset),
                            number=done + offset,
                            events=events,
                            rng=rng,
                            objects=objects,
                        )
                        for offset in range(size)
                    ]
                    insert_rows(AuditRecord, COLUMNS, ([row[c] for c in COLUMNS] for row in rows))
                    for key, head in heads.items():
                        AuditChain.objects.filter(key=key).update(
                            last_seq=head.seq, last_hash=head.hash
                        )
            except IntegrityError:
                if attempt == BATCH_ATTEMPTS - 1:
                    raise
                continue
            break
        done += size
        if on_batch is not None:
            on_batch(done)
    return done


def _lock_heads(chains: Sequence[str]) -> dict[str, _Head]:
    """Lock every head (creating missing ones), in key order so two seeders cannot deadlock."""
    keys = sorted(set(chains))
    existing = set(AuditChain.objects.filter(key__in=keys).values_list("key", flat=True))
    AuditChain.objects.bulk_create(
        [AuditChain(key=key) for key in keys if key not in existing], ignore_conflicts=True
    )
    locked = AuditChain.objects.select_for_update().filter(key__in=keys).order_by("key")
    return {head.key: _Head(head.last_seq, head.last_hash or GENESIS) for head in locked}


def _build(
    *,
    chain: str,
    heads: dict[str, _Head],
    moment: datetime,
    number: int,
    events: dict[str, EventType],
    rng: random.Random,
    objects: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """One record's columns (``event`` as the event type's id), hashed and chained."""
    head = heads[chain]
    account_id = "" if chain == PLATFORM_CHAIN else chain
    event_key = EVENTS[number % len(EVENTS)]
    if objects:
        token_id, name = objects[rng.randrange(len(objects))]
    else:
        token_id = f"TKN-{rng.randrange(10_000):04d}-{rng.randrange(10_000):04d}"
        name = f"Robot {number}"
    is_sign_in = event_key.endswith("signed_in")
    user_id = f"USR-{rng.randrange(10_000):04d}-{rng.randrange(10_000):04d}"
    modules = [{"id": mod, "name": title} for mod, title in MODULES[: 1 + number % len(MODULES)]]
    digits = f"{rng.randrange(10**16):016d}"
    fields: dict[str, Any] = {
        "public_id": f"AUD-{digits[:4]}-{digits[4:8]}-{digits[8:12]}-{digits[12:]}",
        "chain": chain,
        "seq": head.seq + 1,
        "event_key": event_key,
        "timestamp": moment,
        "account_id": account_id,
        "object_id": user_id if is_sign_in else token_id,
        "object_name": "Seeded user" if is_sign_in else name,
        "object_type": "User" if is_sign_in else "ApiToken",
        "actor_id": user_id,
        "actor_name": "Seeded user",
        "actor_type": str(ActorType.USER),
        "actor_account_id": account_id,
        "actor_account_name": f"Account {account_id}" if account_id else "",
        "summary": "User signed in" if is_sign_in else f"API token {name} ({token_id}) seeded",
        "details": (
            f"Seeded user signed in from 203.0.113.{number % 250 + 1} (seed/1.0)."
            if is_sign_in
            else f"API token {name} ({token_id}) seeded with modules: "
            + ", ".join(title for _mod, title in MODULES[: 1 + number % len(MODULES)])
            + "."
        ),
        "request_ip": f"203.0.113.{number % 250 + 1}",
        "request_user_agent": "seed/1.0",
        "trace_id": f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-00",
        "documents": {}
        if is_sign_in
        else {
            "token": {
                "id": token_id,
                "name": name,
                "description": "",
                "status": "Active",
                "modules": modules,
            }
        },
        "prev_hash": head.hash,
    }
    fields["hash"] = record_hash(fields)
    fields["event"] = events[event_key].pk
    head.seq, head.hash = fields["seq"], fields["hash"]
    return fields
