"""A token used from outside its allowlist (issue 17): the request is refused with 403, and a
``blocked_ip`` record is written once per token, address and hour.

"Once" holds across processes and servers: the record is written in the transaction that
inserts the ``BlockedUse`` row of that hour, which a unique constraint admits once. Each process
also remembers what it recorded, so a client hammering from outside the list costs one
database write an hour, not one per request. The write happens at once, in its own
transaction: losing a server never loses a block's record.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from apitokens.describe import actor_for_token, token_ref
from apitokens.models import ApiToken, BlockedUse
from audit.recorder import record
from audit.types import RequestContext

logger = logging.getLogger(__name__)

EVENT_BLOCKED_IP: Final = "platform.accounts.api_token.blocked_ip"
# (token pk, address, hour) this process recorded (or found recorded); bounded.
_seen: set[tuple[int, str, datetime]] = set()
_SEEN_MAX: Final = 10_000


def forget() -> None:
    """Forget what this process recorded (tests)."""
    _seen.clear()


def _hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def record_blocked_use(
    token_pk: int, ip: str, *, request: RequestContext | None = None, now: datetime | None = None
) -> bool:
    """Record that token ``token_pk`` was refused at ``ip``; True for the one call that wrote
    the record of this hour. Never raises: the 403 is answered whatever the database says."""
    hour = _hour_of(now or timezone.now())
    key = (token_pk, ip, hour)
    if key in _seen:
        return False
    if len(_seen) >= _SEEN_MAX:
        _seen.clear()
    try:
        written = _write(token_pk, ip, hour, request)
    except DatabaseError as exc:
        logger.error("could not record a blocked use: %s", type(exc).__name__)
        return False
    _seen.add(key)
    return written


def _write(token_pk: int, ip: str, hour: datetime, request: RequestContext | None) -> bool:
    try:
        with transaction.atomic():
            BlockedUse.objects.create(token_id=token_pk, ip=ip, hour=hour)
            token = ApiToken.objects.select_related("account").get(pk=token_pk)
            record(
                event=EVENT_BLOCKED_IP,
                obj=token_ref(token),
                actor=actor_for_token(token),
                account_id=token.account.public_id,
                summary=f"API token {token.name} ({token.public_id}) refused from {ip}",
                details=f"A request with API token {token.name} ({token.public_id}) came from "
                f"{ip}, outside its allowed IP ranges ({', '.join(token.allowed_ips.split())}), "
                f"and was refused. Further refusals from {ip} in the hour from "
                f"{hour:%Y-%m-%d %H}:00 UTC are not recorded again.",
                documents={"ip": ip, "allowedIps": token.allowed_ips.split()},
                request=request,
            )
    except IntegrityError:
        return False  # another request (or server) recorded this hour first
    return True
