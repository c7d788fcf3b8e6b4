"""Bulk generation of a large account for benchmarks and load tests (``manage.py bench_seed``).

``services.create_token`` is one transaction with a row lock and an audit record per token:
right for the product, far too slow for 100,000 tokens. ``seed_tokens`` writes whole batches of
real tokens instead — a valid value per token (format, checksum, HMAC digest, AES-GCM
ciphertext under the newest key, exactly what ``create_token`` stores), modules the account
has enabled — as plain rows, one transaction per batch. The audit records that go with them are
``devtools.audit_seeding.seed_records``, chained like real ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account, AccountModule, AccountType, Module, Role, User
from accounts.services import actor_for_user, create_account, create_user, enable_account_modules
from apitokens import secrets as token_secrets
from apitokens.models import ApiToken, TokenStatus
from audit.types import Actor
from devtools.bulk import insert_rows

BATCH_SIZE = 2000
BATCH_ATTEMPTS = 5
NAMES = (
    "CRM robot",
    "Billing sync",
    "Nightly export",
    "Catalog importer",
    "Helpdesk bridge",
    "Reporting job",
    "Order webhook",
    "License audit",
)
# Out of 100: Active, then Disabled, then Deleted.
STATUS_WEIGHTS = ((TokenStatus.ACTIVE, 85), (TokenStatus.DISABLED, 10), (TokenStatus.DELETED, 5))
STATUSES = [status for status, weight in STATUS_WEIGHTS for _ in range(weight)]
# Tokens are created over the two years before the end of the run.
SPAN = timedelta(days=730).total_seconds()
TOKEN_FIELDS = (
    "public_id",
    "account",
    "name",
    "description",
    "icon",
    "status",
    "digest",
    "ciphertext",
    "key_id",
    "created_at",
    "created_by_id",
    "created_by_name",
    "created_by_type",
    "updated_at",
    "updated_by_id",
    "updated_by_name",
    "updated_by_type",
    "last_access_at",
)


@dataclass(frozen=True, slots=True)
class BenchAccount:
    account: Account
    admin: User


def create_bench_account(*, name: str) -> BenchAccount:
    """A Client account with every module it may have and one Administrator who has no
    password (sign in as them with ``force_login`` only), through the real services."""
    system = Actor.system()
    account = create_account(name=name, type=AccountType.CLIENT, actor=system)
    enable_account_modules(
        account=account,
        modules=[m for m in Module.objects.all() if m.applies_to(account.type)],
        actor=system,
    )
    admin, _ = create_user(
        email=f"bench-admin+{account.public_id.lower()}@bench.invalid",
        name="Bench Administrator",
        password=None,
        account=account,
        role=Role.ADMINISTRATOR,
        actor=system,
    )
    return BenchAccount(account=account, admin=admin)


def seed_tokens(
    *,
    account: Account,
    count: int,
    created_by: User | None = None,
    end: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
) -> list[tuple[str, str]]:
    """Write ``count`` tokens into ``account``; return their (id, name) pairs.

    Created over the two years before ``end`` (default: now); 85% Active, 10% Disabled,
    5% Deleted; one to three of the account's modules each; two in three accessed at some
    point. ``on_batch`` gets the running total after each committed batch.
    """
    if count < 0 or batch_size < 1:
        raise ValueError("count >= 0 and batch_size >= 1 are required")
    rng = random.Random()
    module_pks = list(
        AccountModule.objects.filter(account=account).values_list("module_id", flat=True)
    )
    actor = actor_for_user(created_by, account) if created_by is not None else Actor.system()
    end = end or timezone.now()
    seeded: list[tuple[str, str]] = []
    while len(seeded) < count:
        size = min(batch_size, count - len(seeded))
        for attempt in range(BATCH_ATTEMPTS):
            try:
                with transaction.atomic():
                    batch = _insert_batch(
                        account=account,
                        size=size,
                        number=len(seeded),
                        module_pks=module_pks,
                        actor=actor,
                        end=end,
                        rng=rng,
                    )
            except IntegrityError:
                # A token id taken between our check and the insert: draw the batch again.
                if attempt == BATCH_ATTEMPTS - 1:
                    raise
                continue
            break
        seeded.extend(batch)
        if on_batch is not None:
            on_batch(len(seeded))
    return seeded


def _free_ids(size: int, rng: random.Random) -> list[str]:
    """``size`` random token ids that no row has (checked in one query per draw)."""
    chosen: set[str] = set()
    while len(chosen) < size:
        wanted = size - len(chosen)
        draw = {
            f"TKN-{n // 10_000:04d}-{n % 10_000:04d}"
            for n in (rng.randrange(10**8) for _ in range(wanted))
        } - chosen
        taken = set(ApiToken.objects.filter(public_id__in=draw).values_list("public_id", flat=True))
        chosen |= draw - taken
    return sorted(chosen)[:size]


def _insert_batch(
    *,
    account: Account,
    size: int,
    number: int,
    module_pks: Sequence[int],
    actor: Actor,
    end: datetime,
    rng: random.Random,
) -> list[tuple[str, str]]:
    """Tokens ``number + 1`` to ``number + size`` of the run, with their module links."""
    names = []
    rows = []
    for offset, public_id in enumerate(_free_ids(size, rng)):
        name = f"{NAMES[(number + offset) % len(NAMES)]} {number + offset + 1:06d}"
        names.append((public_id, name))
        rows.append(_token_row(account, public_id, name, offset, actor, end, rng))
    insert_rows(ApiToken, TOKEN_FIELDS, rows)
    pks = dict(
        ApiToken.objects.filter(public_id__in=[public_id for public_id, _ in names]).values_list(
            "public_id", "pk"
        )
    )
    through = ApiToken.modules.through
    links = [
        (pks[public_id], module_pk)
        for public_id, _ in names
        for module_pk in rng.sample(list(module_pks), k=min(len(module_pks), 1 + rng.randrange(3)))
    ]
    insert_rows(through, ("apitoken", "module"), links)
    return names


def _token_row(
    account: Account,
    public_id: str,
    name: str,
    offset: int,
    actor: Actor,
    end: datetime,
    rng: random.Random,
) -> tuple[Any, ...]:
    """One token's columns in ``TOKEN_FIELDS`` order: what ``create_token`` would store."""
    value = token_secrets.generate_value(public_id)
    ciphertext = token_secrets.encrypt(value, settings.TOKEN_ENCRYPTION_KEYS, aad=public_id)
    created = end - timedelta(seconds=rng.random() * SPAN)
    accessed = created + (end - created) * rng.random() if rng.randrange(3) else None
    return (
        public_id,
        account.pk,
        name,
        "" if offset % 4 else f"Seeded for benchmarks ({name}).",
        "",
        STATUSES[rng.randrange(len(STATUSES))],
        token_secrets.digest(value, settings.TOKEN_PEPPER),
        ciphertext,
        token_secrets.key_id_of(ciphertext),
        created,
        actor.id,
        actor.name,
        str(actor.type),
        created,
        actor.id,
        actor.name,
        str(actor.type),
        accessed,
    )
