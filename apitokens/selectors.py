"""Reads: the one home of "which tokens may this caller see" and of what the pages and the
API read about a token, so that both ask the same question the same way.

A caller is a ``Viewer``: an API token's ``Principal`` or a signed-in user's ``Access``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Protocol

from django.db.models import Case, CharField, F, Q, QuerySet, Value, When
from django.utils import timezone

from accounts.models import Account, Module
from apitokens.models import ApiToken, TokenStatus
from apitokens.services import EVENT_CREATED, EVENT_STATUS_CHANGED
from audit.models import AuditRecord

TOKEN_RECORDS_LIMIT: Final = 50


class Viewer(Protocol):
    @property
    def visible_account_pk(self) -> int | None:
        """The account whose tokens this caller sees; ``None`` for every account."""

    @property
    def sees_deleted(self) -> bool: ...


def tokens_visible_to(viewer: Viewer) -> QuerySet[ApiToken]:
    """Client and Vendor callers: their own account, never Deleted. Operations (a token with
    Platform Account Management, or a user of an Operations account): Deleted included, and
    for the token every account. The digest is never needed to show a token."""
    tokens = with_status_now(ApiToken.objects.select_related("account").defer("digest"))
    if viewer.visible_account_pk is not None:
        tokens = tokens.filter(account_id=viewer.visible_account_pk)
    if not viewer.sees_deleted:
        tokens = tokens.exclude(status=TokenStatus.DELETED)
    return tokens


def with_status_now(tokens: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
    """``status_now``: the status as shown (``ApiToken.shown_status``), for filters and
    sorts: Expired for an Active or Disabled token past its expiry, else the stored one."""
    expired = Q(expires_at__lte=timezone.now()) & ~Q(status=TokenStatus.DELETED)
    return tokens.annotate(
        status_now=Case(
            When(expired, then=Value(TokenStatus.EXPIRED.value)),
            default=F("status"),
            output_field=CharField(),
        )
    )


@dataclass(frozen=True, slots=True)
class Expiring:
    """The live tokens that expired or expire within ``EXPIRING_DAYS``: the first few by
    expiry (to name them) and how many there are."""

    first: list[ApiToken]
    count: int


EXPIRING_DAYS: Final = 7
EXPIRING_NAMED: Final = 5


def expiring_soon(viewer: Viewer) -> Expiring:
    soon = timezone.now() + timedelta(days=EXPIRING_DAYS)
    tokens = (
        tokens_visible_to(viewer).filter(expires_at__lte=soon).exclude(status=TokenStatus.DELETED)
    )
    first = list(tokens.order_by("expires_at", "pk")[: EXPIRING_NAMED + 1])
    count = len(first) if len(first) <= EXPIRING_NAMED else tokens.count()
    return Expiring(first=first[:EXPIRING_NAMED], count=count)


def in_status(tokens: QuerySet[ApiToken], status: str) -> QuerySet[ApiToken]:
    """``tokens`` whose status as shown is ``status`` (Expired included)."""
    # (Annotated again if it was already: the same expression replaces itself. django-stubs
    # cannot see an annotation made in another function.)
    return with_status_now(tokens).filter(status_now=status)  # type: ignore[misc]


def get_visible_token(
    viewer: Viewer, public_id: str, *, with_modules: bool = False
) -> ApiToken | None:
    """One token the caller may see, or ``None`` (another account's id looks like no token)."""
    tokens = tokens_visible_to(viewer)
    if with_modules:
        tokens = tokens.prefetch_related("modules")
    return tokens.filter(public_id=public_id).first()


def account_modules(account: Account) -> list[Module]:
    """The modules enabled for an account, by name: what its tokens may hold."""
    return list(Module.objects.filter(accountmodule__account=account).order_by("name"))


def token_records(token: ApiToken) -> list[AuditRecord]:
    """This token's latest records in its account's trail, newest first (index
    ``audit_account_object_time``)."""
    return list(
        AuditRecord.objects.filter(object_id=token.public_id, account_id=token.account.public_id)
        .defer("prev_hash", "hash")
        .order_by("-timestamp", "-id")[:TOKEN_RECORDS_LIMIT]
    )


def status_history(token: ApiToken) -> list[dict[str, Any]]:
    """Every status the token has had, oldest first: its creation, then each change."""
    records = (
        AuditRecord.objects.filter(
            object_id=token.public_id,
            account_id=token.account.public_id,
            event_key__in=[EVENT_CREATED, EVENT_STATUS_CHANGED],
        )
        .only("timestamp", "event_key", "actor_name", "actor_id", "documents")
        .order_by("timestamp", "id")
    )
    history = []
    for entry in records:
        moved = entry.documents.get("status") if isinstance(entry.documents, dict) else None
        history.append(
            {
                "at": entry.timestamp,
                "from": moved.get("from") if isinstance(moved, dict) else "",
                "to": moved.get("to") if isinstance(moved, dict) else "Active",
                "by": entry.actor_name,
                "by_id": entry.actor_id,
            }
        )
    return history
