"""Rotating a token's value without an outage (issue 16): a new value at once, the replaced one
still accepted for a grace period (Stripe's "roll key"), every rotation in the audit trail.

Only one value is ever *current*; at most one previous value is accepted, until
``previous_valid_until``. A second rotation during a grace period replaces the previous value
with the one it retires, so the value before that stops at once. Rotations of one token queue
on its row lock, so two at the same time leave one current value and one previous one.
(Re-encrypting stored values under a new key is ``apitokens.rotation``, a different thing.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from django.db import transaction
from django.utils import timezone

from apitokens.describe import by, token_ref
from apitokens.errors import TokenDeleted, TokenExpired
from apitokens.lifetime import describe_expiry, limits_of
from apitokens.models import ApiToken, TokenStatus
from apitokens.services import STAMP_FIELDS, CreatedToken, lock_token, seal_value, stamp
from audit.recorder import record
from audit.types import Actor, RequestContext

EVENT_ROTATED: Final = "platform.accounts.api_token.rotated"
DEFAULT_GRACE_SECONDS: Final = 24 * 3600
MAX_GRACE_SECONDS: Final = 7 * 24 * 3600


def claim_showing(token: ApiToken) -> bool:
    """True once per rotation: the pages may show its new value now (to its maker)."""
    return bool(
        ApiToken.objects.filter(
            pk=token.pk, rotated_at=token.rotated_at, rotation_shown=False
        ).update(rotation_shown=True)
    )


def _next_expiry(token: ApiToken, now: datetime) -> datetime | None:
    """The same lifetime from now that the replaced value had, within the account's policy."""
    if token.expires_at is None:
        return None
    lifetime = token.expires_at - (token.rotated_at or token.created_at)
    latest = limits_of(token.account_id).latest(now)
    wanted = now + max(lifetime, timedelta(seconds=1))
    return min(wanted, latest) if latest is not None else wanted


def rotate_token(
    *,
    token: ApiToken | str,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
    actor: Actor,
    request: RequestContext | None = None,
) -> CreatedToken:
    """A new value for ``token``, returned once; the old one works ``grace_seconds`` more
    (0: it stops now). Active and Disabled tokens rotate; Deleted and expired ones do not."""
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise ValueError("grace_seconds must be within 0 and 7 days")
    with transaction.atomic():
        locked = lock_token(token)
        if locked.status == TokenStatus.DELETED:
            raise TokenDeleted(token_id=locked.public_id, current=locked.status, action="rotated")
        if locked.is_expired:
            raise TokenExpired(locked.public_id, action="rotated")
        now = timezone.now()
        retired = locked.digest
        value = seal_value(locked)
        locked.previous_digest = retired if grace_seconds else ""
        locked.previous_valid_until = (
            now + timedelta(seconds=grace_seconds) if grace_seconds else None
        )
        old_expiry = locked.expires_at
        locked.expires_at = _next_expiry(locked, now)
        locked.rotated_at = now
        locked.rotation_shown = False
        stamp(locked, actor)
        locked.save(
            update_fields=[
                "digest",
                "ciphertext",
                "key_id",
                "previous_digest",
                "previous_valid_until",
                "expires_at",
                "rotated_at",
                "rotation_shown",
                *STAMP_FIELDS,
            ]
        )
        _record(locked, old_expiry, actor, request)
    return CreatedToken(token=locked, value=value)


def _record(
    token: ApiToken, old_expiry: datetime | None, actor: Actor, request: RequestContext | None
) -> None:
    if token.previous_valid_until is not None:
        grace = f"the previous value works until {describe_expiry(token.previous_valid_until)}"
    else:
        grace = "the previous value stopped working at once (emergency rotation)"
    expiry = ""
    if token.expires_at != old_expiry:
        expiry = f"; Expires: {describe_expiry(old_expiry)} → {describe_expiry(token.expires_at)}"
    record(
        event=EVENT_ROTATED,
        obj=token_ref(token),
        actor=actor,
        account_id=token.account.public_id,
        summary=f"API token {token.name} ({token.public_id}) rotated",
        details=f"A new value was made {by(actor)}; {grace}{expiry}.",
        documents={
            "rotation": {
                "previousValidUntil": describe_expiry(token.previous_valid_until)
                if token.previous_valid_until
                else None,
                "expiresAt": describe_expiry(token.expires_at),
            }
        },
        request=request,
    )
