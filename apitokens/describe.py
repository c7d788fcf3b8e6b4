"""How a token appears in the audit trail: its reference, its snapshot (never its secret),
the token as an actor, and an edit in words."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from accounts.models import Module
from apitokens.models import ApiToken
from audit.types import Actor, ActorType, ObjectRef
from tokens_admin.api import iso


def actor_for_token(token: ApiToken) -> Actor:
    return Actor(
        id=token.public_id,
        name=token.name,
        type=ActorType.API_TOKEN,
        account_id=token.account.public_id,
        account_name=token.account.name,
    )


def token_ref(token: ApiToken) -> ObjectRef:
    return ObjectRef(id=token.public_id, name=token.name, object_type="ApiToken")


def snapshot(token: ApiToken, modules: Sequence[Module] | None = None) -> dict[str, Any]:
    """What the audit trail keeps of a token: everything but its secret."""
    mods = list(token.modules.all()) if modules is None else modules
    return {
        "id": token.public_id,
        "name": token.name,
        "description": token.description,
        "icon": token.icon,
        "status": token.status,
        "expiresAt": iso(token.expires_at),
        "allowedIps": token.allowed_ips.split(),
        "account": {"id": token.account.public_id, "name": token.account.name},
        "modules": [{"id": m.public_id, "name": m.name} for m in mods],
    }


def shown(value: str) -> str:
    return repr(value) if value else "(empty)"


def module_names(modules: Iterable[Module]) -> str:
    return ", ".join(m.name for m in modules) or "none"


def describe_update(
    changes: dict[str, dict[str, Any]], before: Sequence[Module], after: Sequence[Module]
) -> str:
    """An edit in words, every changed field with before and after:
    "Name: 'CRM robot' → 'CRM robot 2'; modules added: Billing"."""
    parts = [
        f"{field.capitalize()}: {shown(changes[field]['before'])} → "
        f"{shown(changes[field]['after'])}"
        for field in ("name", "description", "icon")
        if field in changes
    ]
    if "expires_at" in changes:
        parts.append(
            f"Expires: {changes['expires_at']['before']} → {changes['expires_at']['after']}"
        )
    if "allowed_ips" in changes:
        was, now = (changes["allowed_ips"][k] or ["any address"] for k in ("before", "after"))
        parts.append(f"Allowed IPs: {', '.join(was)} → {', '.join(now)}")
    if "modules" in changes:
        kept = {m.pk for m in before}
        added = [m for m in after if m.pk not in kept]
        removed = [m for m in before if m.pk not in {m.pk for m in after}]
        if added:
            parts.append(f"modules added: {module_names(added)}")
        if removed:
            parts.append(f"modules removed: {module_names(removed)}")
    return "; ".join(parts)


def by(actor: Actor) -> str:
    return f"by {actor.name} ({actor.id})"
