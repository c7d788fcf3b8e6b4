"""An account's token lifetime policy (issue 16): change it, list the tokens it would refuse
today, and, when asked, bring them within it. Tightening never kills a token by itself: it
answers with the tokens that exceed the new rules, and ``apply_policy`` shortens their expiry
to the new maximum, each with its own audit record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account
from apitokens import services
from apitokens.describe import by
from apitokens.lifetime import MAX_LIFETIME_DAYS, Limits, days, limits_of
from apitokens.models import ApiToken, TokenPolicy, TokenStatus
from apitokens.rules import UNSET, Unset
from audit.recorder import record
from audit.types import Actor, ObjectRef, RequestContext
from tokens_admin.errors import ValidationFailed

EVENT_POLICY_UPDATED: Final = "platform.accounts.api_token_policy.updated"


@dataclass(frozen=True, slots=True)
class PolicyChange:
    policy: TokenPolicy
    exceeding: list[ApiToken]


def policy_of(account: Account) -> TokenPolicy:
    """The account's policy; an unsaved one without limits when it has none."""
    found = TokenPolicy.objects.filter(account=account).first()
    return found if found is not None else TokenPolicy(account=account)


def policy_errors(max_lifetime_days: int | Unset | None) -> dict[str, list[str]]:
    if isinstance(max_lifetime_days, int) and not 1 <= max_lifetime_days <= MAX_LIFETIME_DAYS:
        return {"maxLifetimeDays": [f"Must be between 1 and {MAX_LIFETIME_DAYS} days, or null."]}
    return {}


def exceeding(account: Account, limits: Limits, now: datetime | None = None) -> list[ApiToken]:
    """The account's live tokens that ``limits`` would refuse: no expiry where one is needed,
    or one after the latest allowed. Already expired tokens are within any policy."""
    now = now or timezone.now()
    tokens = ApiToken.objects.filter(account=account).exclude(status=TokenStatus.DELETED)
    latest = limits.latest(now)
    beyond = Q(expires_at__gt=latest) if latest is not None else Q(pk__in=[])
    missing = Q(expires_at__isnull=True) if limits.expiry_needed else Q(pk__in=[])
    return list(tokens.filter(beyond | missing).order_by("expires_at", "public_id"))


def _describe(policy: TokenPolicy) -> tuple[str, str]:
    most = days(policy.max_lifetime_days) if policy.max_lifetime_days is not None else "none"
    return most, "yes" if policy.require_expiry else "no"


def update_policy(
    *,
    account: Account,
    max_lifetime_days: int | Unset | None = UNSET,
    require_expiry: bool | Unset = UNSET,
    actor: Actor,
    request: RequestContext | None = None,
) -> PolicyChange:
    """Set the fields given; one audit record when something changed."""
    errors = policy_errors(max_lifetime_days)
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        policy = policy_of(locked)
        before = _describe(policy)
        if not isinstance(max_lifetime_days, Unset):
            policy.max_lifetime_days = max_lifetime_days
        if not isinstance(require_expiry, Unset):
            policy.require_expiry = require_expiry
        after = _describe(policy)
        if after != before:
            policy.updated_at = timezone.now()
            policy.updated_by_id, policy.updated_by_name = actor.id, actor.name
            policy.save()
            _record_policy(locked, before, after, actor, request)
    limits = Limits(policy.max_lifetime_days, policy.require_expiry)
    return PolicyChange(policy=policy, exceeding=exceeding(locked, limits))


def _record_policy(
    account: Account,
    before: tuple[str, str],
    after: tuple[str, str],
    actor: Actor,
    request: RequestContext | None,
) -> None:
    changed = []
    if before[0] != after[0]:
        changed.append(f"Maximum lifetime: {before[0]} → {after[0]}")
    if before[1] != after[1]:
        changed.append(f"Expiry required: {before[1]} → {after[1]}")
    record(
        event=EVENT_POLICY_UPDATED,
        obj=ObjectRef(id=account.public_id, name=account.name, object_type="Account"),
        actor=actor,
        account_id=account.public_id,
        summary=f"API token policy of {account.name} ({account.public_id}) updated",
        details=f"{'; '.join(changed)}, {by(actor)}.",
        documents={"policy": {"maxLifetimeDays": after[0], "requireExpiry": after[1]}},
        request=request,
    )


def apply_policy(
    *, account: Account, actor: Actor, request: RequestContext | None = None
) -> list[ApiToken]:
    """Shorten every token past the maximum to the maximum from now (one ``updated`` record
    each). Tokens with no expiry where only ``requireExpiry`` is set have no maximum to be
    given: they stay listed by ``exceeding``."""
    limits = limits_of(account)
    latest = limits.latest(timezone.now())
    if latest is None:
        return []
    changed = []
    for token in exceeding(account, limits):
        changed.append(
            services.update_token(token=token, expires_at=latest, actor=actor, request=request)
        )
    return changed
