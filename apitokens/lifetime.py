"""How long a token lives (issue 16): the account's policy, the rules an expiry must meet, and
the one ``expired`` record per expiry (written by the first refused use or by the sweep,
whichever comes first; never twice).

Expiry needs no job for correctness: a token past ``expires_at`` reads Expired and the Bearer
lookup refuses it. The record is bookkeeping for people, so it is written once, by whoever
first notices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from apitokens.describe import actor_for_token, token_ref
from apitokens.models import ApiToken, TokenPolicy, TokenStatus
from audit.recorder import record
from tokens_admin.api import iso

EVENT_EXPIRED: Final = "platform.accounts.api_token.expired"
MAX_LIFETIME_DAYS: Final = 3650


@dataclass(frozen=True, slots=True)
class Limits:
    """An account's policy as values (an account without a policy row has no limits)."""

    max_lifetime_days: int | None = None
    require_expiry: bool = False

    @property
    def expiry_needed(self) -> bool:
        return self.require_expiry or self.max_lifetime_days is not None

    def latest(self, now: datetime) -> datetime | None:
        if self.max_lifetime_days is None:
            return None
        return now + timedelta(days=self.max_lifetime_days)

    def describe(self) -> str:
        if self.max_lifetime_days is not None:
            return f"at most {days(self.max_lifetime_days)} from now"
        return "an expiry" if self.require_expiry else "no limit"


def days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def limits_of(account: Account | int) -> Limits:
    account_pk = account.pk if isinstance(account, Account) else account
    policy = TokenPolicy.objects.filter(account_id=account_pk).first()
    if policy is None:
        return Limits()
    return Limits(policy.max_lifetime_days, policy.require_expiry)


def expiry_errors(
    expires_at: datetime | None, limits: Limits, *, now: datetime | None = None
) -> list[str]:
    """Why ``expires_at`` is refused for a token under ``limits`` (empty: it is fine)."""
    now = now or timezone.now()
    latest = limits.latest(now)
    if expires_at is None:
        if latest is not None:
            return [
                f"This account's tokens must expire within {days(limits.max_lifetime_days or 0)};"
                f" set an expiry no later than {iso(latest)}."
            ]
        if limits.require_expiry:
            return ["An expiry is required for this account's tokens."]
        return []
    if expires_at <= now:
        return ["The expiry must be in the future."]
    if latest is not None and expires_at > latest:
        return [
            f"The expiry must be within this account's maximum lifetime of "
            f"{days(limits.max_lifetime_days or 0)}: no later than {iso(latest)}."
        ]
    return []


def describe_expiry(expires_at: datetime | None) -> str:
    return iso(expires_at) or "never"


def _record_expired(token: ApiToken) -> None:
    record(
        event=EVENT_EXPIRED,
        obj=token_ref(token),
        actor=actor_for_token(token),
        account_id=token.account.public_id,
        summary=f"API token {token.name} ({token.public_id}) expired",
        details=f"API token {token.name} ({token.public_id}) expired at "
        f"{describe_expiry(token.expires_at)}; it authenticates no more until an "
        "Administrator sets a new expiry.",
        documents={"expiresAt": describe_expiry(token.expires_at)},
    )


def _claim(pk: int, now: datetime) -> bool:
    """Mark the current expiry of token ``pk`` recorded; True for the one caller that did."""
    return bool(
        ApiToken.objects.filter(pk=pk, expiry_recorded=False, expires_at__lte=now)
        .exclude(status=TokenStatus.DELETED)
        .update(expiry_recorded=True)
    )


def record_expiry(token_pk: int) -> bool:
    """The ``expired`` record of one token, if nobody wrote it yet (the Bearer path)."""
    now = timezone.now()
    with transaction.atomic():
        if not _claim(token_pk, now):
            return False
        _record_expired(ApiToken.objects.select_related("account").get(pk=token_pk))
    return True


def record_expiries(now: datetime | None = None) -> list[str]:
    """The sweep: one ``expired`` record for every token whose expiry passed unrecorded.
    Safe on many nodes at once: each token is claimed by one conditional UPDATE."""
    now = now or timezone.now()
    due = (
        ApiToken.objects.filter(expiry_recorded=False, expires_at__lte=now)
        .exclude(status=TokenStatus.DELETED)
        .order_by("expires_at", "pk")
        .values_list("pk", flat=True)
    )
    done = []
    for pk in list(due):
        with transaction.atomic():
            if _claim(pk, now):
                token = ApiToken.objects.select_related("account").get(pk=pk)
                _record_expired(token)
                done.append(token.public_id)
    return done
