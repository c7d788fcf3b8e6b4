"""Re-encrypting stored values under the newest key (``manage.py keys rotate``).

Batches walk the table by primary key, each in its own short transaction with the rows
locked, so the command is resumable at any point: every row is either still under an old key
or already under the new one, and both decrypt while the old key stays configured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from apitokens import secrets as token_secrets
from apitokens.models import ApiToken
from audit.recorder import record
from audit.types import Actor, ObjectRef


@dataclass
class RotationReport:
    newest_key: str
    pending: int = 0
    rotated: int = 0
    failed: list[str] = field(default_factory=list)


def newest_key_id() -> str:
    return next(iter(settings.TOKEN_ENCRYPTION_KEYS))


def pending_count() -> int:
    return ApiToken.objects.exclude(key_id=newest_key_id()).count()


def rotate(
    *,
    batch_size: int = 500,
    limit: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> RotationReport:
    """Re-encrypt every value not under the newest key; ``limit`` stops early (for tests and
    for operators who want to go slowly)."""
    keys = settings.TOKEN_ENCRYPTION_KEYS
    newest = newest_key_id()
    report = RotationReport(newest_key=newest, pending=pending_count())
    last_pk = 0
    while limit is None or report.rotated < limit:
        size = batch_size if limit is None else min(batch_size, limit - report.rotated)
        with transaction.atomic():
            batch = list(
                ApiToken.objects.select_for_update()
                .filter(pk__gt=last_pk)
                .exclude(key_id=newest)
                .order_by("pk")
                .only("pk", "public_id", "ciphertext", "key_id")[:size]
            )
            if not batch:
                break
            changed = []
            for token in batch:
                last_pk = token.pk
                try:
                    value = token_secrets.decrypt(token.ciphertext, keys, aad=token.public_id)
                except token_secrets.SecretError:
                    report.failed.append(token.public_id)
                    continue
                token.ciphertext = token_secrets.encrypt(value, keys, aad=token.public_id)
                token.key_id = newest
                changed.append(token)
            ApiToken.objects.bulk_update(changed, ["ciphertext", "key_id"])
        report.rotated += len(changed)
        if on_batch is not None:
            on_batch(len(batch))
    _record_rotation(report)
    return report


def _record_rotation(report: RotationReport) -> None:
    newest = report.newest_key
    failed = report.failed[:100]
    with transaction.atomic():
        record(
            event="platform.accounts.api_token.keys_rotated",
            obj=ObjectRef(id=newest, name=f"encryption key {newest}", object_type="EncryptionKey"),
            actor=Actor.system(),
            account_id=None,
            summary=f"{report.rotated} token value(s) re-encrypted under key {newest}"
            + (f"; {len(report.failed)} could not be decrypted" if report.failed else ""),
            details=f"Every stored token value was re-encrypted under the newest key {newest} "
            f"({report.rotated} changed)"
            + (
                f"; these could not be decrypted with any configured key and kept their old "
                f"ciphertext: {', '.join(failed)}."
                if failed
                else "; none failed."
            ),
            documents={"rotated": report.rotated, "failed": failed},
        )
