"""``/public/v1/accounts/api-tokens`` (SPEC section 4.4): the platform's API tokens resource."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponse

from accounts.errors import AccountNotFound
from accounts.models import Account, Module
from apitokens import edits, lifetime, rules, services, usage, value_rotation
from apitokens import secrets as token_secrets
from apitokens.api_json import modules_json, token_json
from apitokens.bodies import ApiTokenCreate, ApiTokenUpdate, ModuleRef, RotateBody
from apitokens.errors import TokenNotFound
from apitokens.models import ApiToken, TokenStatus
from apitokens.selectors import get_visible_token, tokens_visible_to
from audit.types import Actor
from tokens_admin.api import (
    Principal,
    Projection,
    Scope,
    Selection,
    collection,
    endpoint,
    json_body,
    json_response,
    query_of,
    refuse_unknown_fields,
)
from tokens_admin.bodies import parse, parse_all
from tokens_admin.errors import Conflict, DomainError, ValidationFailed
from tokens_admin.moments import NotAMoment, parse_moment
from tokens_admin.problems import api_headers
from tokens_admin.requests import request_context
from tokens_admin.rql_django import Collection, Compiler, Field, Resource

SCOPE = Scope(modules=("access-management", "platform-account-management"), self_param="token_id")
DEFAULT_FIELDS = (
    "id",
    "href",
    "name",
    "description",
    "icon",
    "status",
    "lastAccessAt",
    "expiresAt",
    "allowedIps",
    "rotation",
    "token",
    "account",
)
OPTIONAL_FIELDS = ("modules", "audit", "usage")
PROJECTION = Projection(DEFAULT_FIELDS, OPTIONAL_FIELDS)
DEFAULTS = Selection(DEFAULT_FIELDS)
# What a create, update or rotate answers with: all but ``usage`` (read on request only).
EVERYTHING = Selection((*DEFAULT_FIELDS, "modules", "audit"))
DEFAULT_ORDER = ("-created_at", "-id")

_token_modules = ApiToken.modules.through


class AccountChange(Conflict):
    pass


def _modules_exist(condition: Q) -> Exists:
    members = Module.objects.filter(condition).values("pk")
    return Exists(_token_modules.objects.filter(apitoken_id=OuterRef("pk"), module_id__in=members))


def _modules_relation(condition: Q) -> Q:
    return Q(_modules_exist(condition))


MODULE_FIELDS = {
    "id": Field("public_id"),
    "name": Field("name"),
    "description": Field("description", sortable=False),
}
MODULE_RESOURCE = Resource("modules", MODULE_FIELDS)


def _by_value(name: str, value: str) -> Q:
    """``eq(token,'<value>')``: answered through the digest (older clients filter this way)."""
    parsed = token_secrets.parse_value(value)
    if parsed is None:
        return Q(pk__in=[])
    return Q(digest=token_secrets.digest(parsed.value, settings.TOKEN_PEPPER))


TOKENS = Resource(
    "api-tokens",
    {
        "id": Field("public_id"),
        "name": Field("name"),
        "description": Field("description", sortable=False),
        # As shown: Expired is derived from expiresAt (selectors.with_status_now).
        "status": Field("status_now", kind="choice", choices=tuple(TokenStatus.values)),
        "lastAccessAt": Field("last_access_at", kind="datetime"),
        "expiresAt": Field("expires_at", kind="datetime", null_is_never=True),
        "account.id": Field("account__public_id"),
        "account.name": Field("account__name"),
        "account.type": Field("account__type"),
        "audit.created.at": Field("created_at", kind="datetime"),
        "audit.created.by.id": Field("created_by_id"),
        "audit.updated.at": Field("updated_at", kind="datetime"),
        "audit.updated.by.id": Field("updated_by_id"),
        "modules.id": Field("public_id", sortable=False, relation=_modules_relation),
        "modules.name": Field("name", sortable=False, relation=_modules_relation),
    },
    collections={"modules": Collection(MODULE_RESOURCE, _modules_exist)},
    special={"token": _by_value},
)


def _get_visible(principal: Principal, token_id: str) -> ApiToken:
    token = get_visible_token(principal, token_id)
    if token is None:
        raise TokenNotFound(f"API token {token_id} was not found.")
    return token


def _modules_from(refs: list[ModuleRef], errors: dict[str, list[str]]) -> list[Module]:
    """The modules a body names; an id that names no module is a field error of
    ``modules`` (not a 404, which would say the URL is wrong, nor a 409)."""
    ids = list(dict.fromkeys(ref.id for ref in refs))
    found = {m.public_id: m for m in Module.objects.filter(public_id__in=ids)}
    unknown = [i for i in ids if i not in found]
    if unknown:
        errors["modules"] = [_no_such_modules(unknown)]
        return []
    return [found[i] for i in ids]


MODULE_ID_RE = re.compile(r"^MOD-[0-9]{4}$")


def _no_such_modules(unknown: list[str]) -> str:
    """Names at most five unknown ids, and only ids in the catalogue's shape: whatever else
    the caller sent (a huge string, a pasted secret) is counted, never echoed."""
    shaped = [i for i in unknown if MODULE_ID_RE.fullmatch(i)]
    named = ", ".join(shaped[:5])
    others = len(unknown) - min(len(shaped), 5)
    if not named:
        return f"No such module: {len(unknown)} id(s) not in the form MOD-NNNN."
    return f"No such module: {named}" + (f" and {others} more." if others else ".")


class ModulesNotHeld(DomainError):
    """A token may grant only modules it holds itself, and may not change its own."""

    status = 403


def _refuse_escalation(principal: Principal, account: Account, granted: list[Module]) -> None:
    """No privilege escalation through tokens (SPEC section 8). An Operations token with
    Platform Account Management provisions *other* accounts, whose modules it cannot hold
    (Marketplace exists only for Clients), so it grants there what the account has enabled."""
    if principal.sees_all_accounts and account.pk != principal.account_pk:
        return
    missing = [m for m in granted if m.code not in principal.module_codes]
    if missing:
        names = ", ".join(f"{m.public_id} ({m.name})" for m in missing)
        raise ModulesNotHeld(f"This API token cannot grant modules it does not hold: {names}.")


def _refuse_module_change(principal: Principal, token: ApiToken, modules: list[Module]) -> None:
    current = set(token.modules.values_list("pk", flat=True))
    if token.pk == principal.token_pk and {m.pk for m in modules} != current:
        raise ModulesNotHeld("An API token cannot change its own modules.")
    _refuse_escalation(principal, token.account, [m for m in modules if m.pk not in current])


def _texts(body: ApiTokenUpdate, errors: dict[str, list[str]], *, creating: bool) -> dict[str, str]:
    """The name, description and icon the body sets (``null`` clears the last two), judged
    by the service's rules together with the body's other errors, so one answer names every
    field at once."""
    wanted = {"name", "description", "icon"} if creating else body.sent()
    texts = {
        field: getattr(body, field) or ""
        for field in ("name", "description", "icon")
        if field in wanted and field not in errors
    }
    for field, messages in rules.validate_fields(**texts).items():
        errors.setdefault(field, messages)
    return texts


def _expiry(body: ApiTokenUpdate, errors: dict[str, list[str]]) -> dict[str, Any]:
    """``expires_at`` for the service when the body sends ``expiresAt`` (a date-time in the
    future; the account's policy is the service's to apply)."""
    if "expiresAt" not in body.sent() or "expiresAt" in errors:
        return {}
    if body.expiresAt is None:
        return {"expires_at": None}
    try:
        moment = parse_moment(body.expiresAt)
    except NotAMoment:
        errors["expiresAt"] = ["Must be an ISO-8601 date-time such as 2027-01-31T12:00:00Z."]
        return {}
    refused = lifetime.expiry_errors(moment, lifetime.Limits())
    if refused:
        errors["expiresAt"] = refused
        return {}
    return {"expires_at": moment}


def _ranges(body: ApiTokenUpdate, errors: dict[str, list[str]]) -> dict[str, Any]:
    """``allowed_ips`` when the body sends ``allowedIps``; every bad entry named at once."""
    if "allowedIps" not in body.sent() or "allowedIps" in errors:
        return {}
    ranges = edits.ranges(body.allowedIps, errors)
    return {} if "allowedIps" in errors else {"allowed_ips": ranges}


def _account_from(account_id: str | None, principal: Principal) -> Account:
    if account_id is None or account_id == principal.account_id:
        return Account.objects.get(pk=principal.account_pk)
    account = (
        Account.objects.filter(public_id=account_id).first()
        if principal.sees_all_accounts
        else None
    )
    if account is None:
        # Unknown and foreign accounts look the same.
        raise AccountNotFound(f"Account {account_id} was not found.")
    return account


def list_tokens(request: HttpRequest, principal: Principal) -> HttpResponse:
    query = query_of(request)
    fields = PROJECTION.select(query)
    tokens = Compiler(TOKENS).apply(tokens_visible_to(principal), query, DEFAULT_ORDER)
    total = tokens.count()
    page: list[ApiToken] = []
    if query.limit:
        page = list(tokens[query.offset : query.offset + query.limit])
    modules = modules_json([t.pk for t in page]) if "modules" in fields and page else {}
    used = usage.usage_of(page) if "usage" in fields and page else {}
    return collection(
        [token_json(t, fields, modules=modules.get(t.pk), used=used.get(t.pk)) for t in page],
        query=query,
        total=total,
        omitted=PROJECTION.omitted(fields),
    )


def create_token(request: HttpRequest, principal: Principal) -> HttpResponse:
    body, errors = parse_all(ApiTokenCreate, json_body(request))
    texts = _texts(body, errors, creating=True)
    expiry = _expiry(body, errors)
    modules = _modules_from(body.modules, errors) if "modules" not in errors else []
    ranges = _ranges(body, errors)
    if errors:
        raise ValidationFailed(errors)
    account = _account_from(body.account.id if "account" in body.sent() else None, principal)
    _refuse_escalation(principal, account, modules)
    created = services.create_token(
        account=account,
        modules=modules,
        actor=Actor.api_token(principal),
        request=request_context(request),
        **{**texts, **expiry, **ranges},
    )
    token = ApiToken.objects.select_related("account").get(pk=created.token.pk)
    return json_response(token_json(token, EVERYTHING, value=created.value), status=201)


def get_token(request: HttpRequest, principal: Principal, token_id: str) -> HttpResponse:
    fields = PROJECTION.select(query_of(request))
    token = _get_visible(principal, token_id)
    own = token.public_id == principal.token_id
    return json_response(token_json(token, fields, reveal=own))


def update_token(request: HttpRequest, principal: Principal, token_id: str) -> HttpResponse:
    token = _get_visible(principal, token_id)
    body, errors = parse_all(ApiTokenUpdate, json_body(request))
    changes: dict[str, Any] = _texts(body, errors, creating=False)
    changes.update(_expiry(body, errors))
    changes.update(_ranges(body, errors))
    if "modules" in body.sent() and "modules" not in errors:
        changes["modules"] = _modules_from(body.modules, errors)
    if errors:
        raise ValidationFailed(errors)
    if "account" in body.sent() and body.account.id != token.account.public_id:
        raise AccountChange("The account of an API token cannot change.")
    if "modules" in changes:
        _refuse_module_change(principal, token, changes["modules"])
    updated = services.update_token(
        token=token, actor=Actor.api_token(principal), request=request_context(request), **changes
    )
    fresh = ApiToken.objects.select_related("account").get(pk=updated.pk)
    return json_response(token_json(fresh, EVERYTHING))


def delete_token(request: HttpRequest, principal: Principal, token_id: str) -> HttpResponse:
    token = _get_visible(principal, token_id)
    services.delete_token(
        token=token, actor=Actor.api_token(principal), request=request_context(request)
    )
    response = HttpResponse(status=204)
    del response["Content-Type"]  # no body: Django's default text/html would be a lie
    return api_headers(response)


def _transition(action: str) -> Any:
    def handler(request: HttpRequest, principal: Principal, token_id: str) -> HttpResponse:
        token = _get_visible(principal, token_id)
        refuse_unknown_fields(json_body(request, optional=True), ())
        change = services.enable_token if action == "enable" else services.disable_token
        changed = change(
            token=token, actor=Actor.api_token(principal), request=request_context(request)
        )
        fresh = ApiToken.objects.select_related("account").get(pk=changed.pk)
        return json_response(token_json(fresh, DEFAULTS))

    handler.__name__ = f"{action}_token"
    return handler


def rotate_token(request: HttpRequest, principal: Principal, token_id: str) -> HttpResponse:
    token = _get_visible(principal, token_id)
    body = parse(RotateBody, json_body(request, optional=True))
    rotated = value_rotation.rotate_token(
        token=token,
        grace_seconds=body.gracePeriod,
        actor=Actor.api_token(principal),
        request=request_context(request),
    )
    fresh = ApiToken.objects.select_related("account").get(pk=rotated.token.pk)
    return json_response(token_json(fresh, EVERYTHING, value=rotated.value))


# A token may rotate itself (a robot renews its own value before it expires).
ROTATE_SCOPE = Scope(modules=SCOPE.modules, self_param="token_id", self_methods=("GET", "POST"))
tokens_view = endpoint(SCOPE, GET=list_tokens, POST=create_token)
rotate_view = endpoint(ROTATE_SCOPE, POST=rotate_token)
token_view = endpoint(SCOPE, GET=get_token, PUT=update_token, DELETE=delete_token)
enable_view = endpoint(SCOPE, POST=_transition("enable"))
disable_view = endpoint(SCOPE, POST=_transition("disable"))
