"""What an update of a token changes, field by field: each helper sets the fields that differ
and returns their before and after, for the one audit record of the update (services)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from accounts.models import Module
from apitokens import networks
from apitokens.lifetime import describe_expiry, expiry_errors, limits_of
from apitokens.models import ApiToken
from apitokens.rules import Unset
from tokens_admin.errors import ValidationFailed


def ranges(entries: Iterable[str], errors: dict[str, list[str]]) -> list[str]:
    """The allowlist as stored; its problems go to ``errors["allowedIps"]``."""
    try:
        return networks.normalise(list(entries))
    except networks.RangesRefused as exc:
        errors["allowedIps"] = exc.problems
        return []


def apply_modules(
    token: ApiToken, before: list[Module], after: list[Module]
) -> dict[str, dict[str, Any]]:
    if {m.pk for m in after} == {m.pk for m in before}:
        return {}
    token.modules.set(after)
    return {
        "modules": {"before": [m.public_id for m in before], "after": [m.public_id for m in after]}
    }


def apply_expiry(token: ApiToken, expires_at: datetime | Unset | None) -> dict[str, dict[str, Any]]:
    """Set a new expiry within the account's policy; its before and after (empty: the same)."""
    if isinstance(expires_at, Unset) or expires_at == token.expires_at:
        return {}
    refused = expiry_errors(expires_at, limits_of(token.account_id))
    if refused:
        raise ValidationFailed({"expiresAt": refused})
    change = {"before": describe_expiry(token.expires_at), "after": describe_expiry(expires_at)}
    token.expires_at = expires_at
    token.expiry_recorded = False  # a new expiry gets its own record when it passes
    return {"expires_at": change}


def apply_fields(token: ApiToken, **fields: str | Unset) -> dict[str, dict[str, Any]]:
    """Set the given text fields that differ; their before and after, by field."""
    changes: dict[str, dict[str, Any]] = {}
    for field, value in fields.items():
        if not isinstance(value, Unset) and getattr(token, field) != value:
            changes[field] = {"before": getattr(token, field), "after": value}
            setattr(token, field, value)
    return changes


def apply_ranges(token: ApiToken, ranges: list[str] | Unset) -> dict[str, dict[str, Any]]:
    """Set a new allowlist (normalised by ``ranges``); its before and after."""
    if isinstance(ranges, Unset) or networks.stored(ranges) == token.allowed_ips:
        return {}
    change = {"before": networks.listed(token.allowed_ips), "after": ranges}
    token.allowed_ips = networks.stored(ranges)
    return {"allowed_ips": change}
