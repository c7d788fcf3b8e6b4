"""An API token as the platform's JSON (SPEC section 4.4), for the API and the commands."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from accounts.models import Account
from apitokens import networks, services, usage
from apitokens import secrets as token_secrets
from apitokens.models import ApiToken
from tokens_admin.api import Selection, drop_nulls, iso

_token_modules = ApiToken.modules.through


def _audit_json(token: ApiToken) -> dict[str, Any]:
    return {
        "created": {
            "at": iso(token.created_at),
            "by": {"id": token.created_by_id, "name": token.created_by_name},
        },
        "updated": {
            "at": iso(token.updated_at),
            "by": {"id": token.updated_by_id, "name": token.updated_by_name},
        },
    }


def modules_json(token_pks: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The modules of many tokens as JSON, by token pk, from one query of plain rows
    (``prefetch_related`` built a model instance per link and per module: a third of a
    100-token page's time)."""
    found: dict[int, list[dict[str, Any]]] = {pk: [] for pk in token_pks}
    rows = (
        _token_modules.objects.filter(apitoken_id__in=token_pks)
        .order_by("module__name", "module_id")
        .values_list("apitoken_id", "module__public_id", "module__name", "module__description")
    )
    for token_pk, public_id, name, description in rows:
        found[token_pk].append(
            drop_nulls({"id": public_id, "name": name, "description": description or None})
        )
    return found


def token_json(
    token: ApiToken,
    fields: Selection,
    *,
    value: str | None = None,
    reveal: bool = False,
    modules: list[dict[str, Any]] | None = None,
    used: usage.Usage | None = None,
) -> dict[str, Any]:
    """A token as the platform returns it; ``modules`` when the caller fetched them already
    (``modules_json``), else they are read here."""
    account: Account = token.account
    data: dict[str, Any] = {
        "id": token.public_id,
        "href": f"/accounts/api-tokens/{token.public_id}",
        "name": token.name,
        "description": token.description or None,
        "icon": token.icon or None,
        "status": token.shown_status,
        "lastAccessAt": iso(token.last_access_at),
        "expiresAt": iso(token.expires_at),
        "allowedIps": networks.listed(token.allowed_ips),
        "rotation": (
            {"previousValidUntil": iso(token.previous_valid_until)}
            if token.previous_value_valid
            else None
        ),
        "account": {
            "id": account.public_id,
            "href": f"/accounts/accounts/{account.public_id}",
            "name": account.name,
            "type": account.type,
            "status": account.status,
        },
    }
    if "token" in fields:
        # Decrypted only for those who see the value; the mask needs nothing but the id.
        if value is None and (reveal or settings.TOKEN_VALUE_ON_EVERY_READ):
            value = services.decrypt_value(token)
        data["token"] = value if value is not None else token_secrets.mask(token.public_id)
    if "modules" in fields:
        data["modules"] = modules if modules is not None else modules_json([token.pk])[token.pk]
    if "audit" in fields:
        data["audit"] = _audit_json(token)
    if "usage" in fields:
        used = used if used is not None else usage.usage_of([token])[token.pk]
        data["usage"] = usage_json(token, used)
    return drop_nulls(fields.apply(data))


def usage_json(token: ApiToken, used: usage.Usage) -> dict[str, Any]:
    """``select=+usage`` (issue 17): where and how much the token is used."""
    return drop_nulls(
        {
            "lastAccessAt": iso(token.last_access_at),
            "lastAccessIp": used.last_ip or None,
            "lastAccessUserAgent": used.last_agent or None,
            "recentIps": [
                {"ip": ip, "firstSeen": iso(first), "lastSeen": iso(last)}
                for ip, first, last in used.recent
            ],
            "daily": [
                {"day": day.isoformat(), "requests": requests, "refused": refused}
                for day, requests, refused in used.daily
            ],
        }
    )
