"""Token lifecycle: create, update, enable, disable, delete, reveal (SPEC section 2).

Every function is one transaction that locks the token row, checks the transition table,
applies the change and writes its audit record; two concurrent requests on one token queue on
the row lock, and the loser sees the winner's state and a named error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, AccountModule, AccountStatus, Module
from apitokens import secrets as token_secrets
from apitokens.errors import (
    AccountNotActive,
    InvalidTransition,
    ModuleNotEnabled,
    TokenDeleted,
    TokenNotFound,
)
from apitokens.models import ApiToken, TokenStatus
from audit.recorder import record
from audit.types import Actor, ActorType, ObjectRef, RequestContext
from tokens_admin.errors import ValidationFailed
from tokens_admin.public_ids import insert_with_public_id

EVENT_CREATED = "platform.accounts.api_token.created"
EVENT_UPDATED = "platform.accounts.api_token.updated"
EVENT_STATUS_CHANGED = "platform.accounts.api_token.status_changed"
EVENT_VALUE_REVEALED = "platform.accounts.api_token.value_revealed"
EVENT_VALUE_COPIED = "platform.accounts.api_token.value_copied"
EVENT_VALUE_REVEAL_FAILED = "platform.accounts.api_token.value_reveal_failed"
EVENT_EXPOSED = "platform.accounts.api_token.exposed"
EVENT_MODULE_REMOVED = "platform.accounts.account.module_removed"

NAME_MAX = 200
DESCRIPTION_MAX = 2000
ICON_MAX = 255
NAME_RE = re.compile(r"^(?:[^\W_]|[ \-.'\"])+$")

# (from, to) -> the verb used in messages. Anything not listed is refused.
TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    (TokenStatus.ACTIVE, TokenStatus.DISABLED): "disabled",
    (TokenStatus.DISABLED, TokenStatus.ACTIVE): "enabled",
    (TokenStatus.ACTIVE, TokenStatus.DELETED): "deleted",
    (TokenStatus.DISABLED, TokenStatus.DELETED): "deleted",
}
_VERBS = {
    TokenStatus.ACTIVE: "enabled",
    TokenStatus.DISABLED: "disabled",
    TokenStatus.DELETED: "deleted",
}


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


@dataclass(frozen=True, slots=True)
class CreatedToken:
    token: ApiToken
    value: str


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
        "account": {"id": token.account.public_id, "name": token.account.name},
        "modules": [{"id": m.public_id, "name": m.name} for m in mods],
    }


VALUE_REFUSED: Final = "Must not contain an API token value; keep values out of stored text."
# PostgreSQL cannot store NUL in text (SQLite can): refused alike on both, as Django's forms do.
NUL_REFUSED: Final = "Null characters are not allowed."


def validate_fields(
    *,
    name: str | _Unset = UNSET,
    description: str | _Unset = UNSET,
    icon: str | _Unset = UNSET,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(name, _Unset):
        if not name.strip():
            errors["name"] = ["API token name is required."]
        elif len(name) > NAME_MAX:
            errors["name"] = [f"API token name must be at most {NAME_MAX} characters."]
        elif not NAME_RE.fullmatch(name):
            errors["name"] = [
                "API token name may contain letters, digits, spaces and - . ' \" only."
            ]
    if not isinstance(description, _Unset):
        if len(description) > DESCRIPTION_MAX:
            errors["description"] = [f"Description must be at most {DESCRIPTION_MAX} characters."]
        elif token_secrets.contains_value(description):
            errors["description"] = [VALUE_REFUSED]
        elif "\x00" in description:
            errors["description"] = [NUL_REFUSED]
    if not isinstance(icon, _Unset):
        if len(icon) > ICON_MAX:
            errors["icon"] = [f"Icon must be at most {ICON_MAX} characters."]
        elif token_secrets.contains_value(icon):
            errors["icon"] = [VALUE_REFUSED]
        elif "\x00" in icon:
            errors["icon"] = [NUL_REFUSED]
    return errors


def _shown(value: str) -> str:
    return repr(value) if value else "(empty)"


def _names(modules: Iterable[Module]) -> str:
    return ", ".join(m.name for m in modules) or "none"


def describe_update(
    changes: dict[str, dict[str, Any]], before: Sequence[Module], after: Sequence[Module]
) -> str:
    """An edit in words, every changed field with before and after:
    "Name: 'CRM robot' → 'CRM robot 2'; modules added: Billing"."""
    parts = [
        f"{field.capitalize()}: {_shown(changes[field]['before'])} → "
        f"{_shown(changes[field]['after'])}"
        for field in ("name", "description", "icon")
        if field in changes
    ]
    if "modules" in changes:
        kept = {m.pk for m in before}
        added = [m for m in after if m.pk not in kept]
        removed = [m for m in before if m.pk not in {m.pk for m in after}]
        if added:
            parts.append(f"modules added: {_names(added)}")
        if removed:
            parts.append(f"modules removed: {_names(removed)}")
    return "; ".join(parts)


def _by(actor: Actor) -> str:
    return f"by {actor.name} ({actor.id})"


def _check_modules(account: Account, modules: Iterable[Module]) -> list[Module]:
    modules = list(dict.fromkeys(modules))
    enabled = set(AccountModule.objects.filter(account=account).values_list("module_id", flat=True))
    refused = [m for m in modules if m.pk not in enabled]
    if refused:
        raise ModuleNotEnabled([m.public_id for m in refused])
    return modules


def _stamp(token: ApiToken, actor: Actor) -> None:
    token.updated_at = timezone.now()
    token.updated_by_id = actor.id
    token.updated_by_name = actor.name
    token.updated_by_type = str(actor.type)


def _lock(token: ApiToken | str) -> ApiToken:
    """Re-read the token under a row lock (PostgreSQL) or the write lock (SQLite IMMEDIATE)."""
    query = ApiToken.objects.select_for_update().select_related("account")
    if isinstance(token, ApiToken):
        locked = query.filter(pk=token.pk).first()
        public_id = token.public_id
    else:
        locked = query.filter(public_id=token).first()
        public_id = token
    if locked is None:
        raise TokenNotFound(f"API token {public_id} was not found.")
    return locked


def create_token(
    *,
    account: Account,
    name: str,
    description: str = "",
    icon: str = "",
    modules: Iterable[Module] = (),
    actor: Actor,
    request: RequestContext | None = None,
) -> CreatedToken:
    """Create an Active token; the value is returned once and kept only encrypted."""
    errors = validate_fields(name=name, description=description, icon=icon)
    if errors:
        raise ValidationFailed(errors)
    pepper = settings.TOKEN_PEPPER
    keys = settings.TOKEN_ENCRYPTION_KEYS
    holder: dict[str, str] = {}

    def seal(token: ApiToken) -> None:
        value = token_secrets.generate_value(token.public_id)
        holder["value"] = value
        token.digest = token_secrets.digest(value, pepper)
        token.ciphertext = token_secrets.encrypt(value, keys, aad=token.public_id)
        token.key_id = token_secrets.key_id_of(token.ciphertext)

    with transaction.atomic():
        locked_account = Account.objects.select_for_update().get(pk=account.pk)
        if locked_account.status != AccountStatus.ACTIVE:
            raise AccountNotActive(f"Account {locked_account.public_id} is disabled.")
        chosen = _check_modules(locked_account, modules)
        now = timezone.now()
        token = ApiToken(
            account=locked_account,
            name=name,
            description=description,
            icon=icon,
            created_at=now,
            created_by_id=actor.id,
            created_by_name=actor.name,
            created_by_type=str(actor.type),
            updated_at=now,
            updated_by_id=actor.id,
            updated_by_name=actor.name,
            updated_by_type=str(actor.type),
        )
        insert_with_public_id(token, prefix="TKN", groups=2, before_save=seal)
        token.modules.set(chosen)
        record(
            event=EVENT_CREATED,
            obj=token_ref(token),
            actor=actor,
            account_id=locked_account.public_id,
            summary=f"API token {token.name} ({token.public_id}) created",
            details=f"API token {token.name} ({token.public_id}) created in account "
            f"{locked_account.name} ({locked_account.public_id}) {_by(actor)}, with modules: "
            f"{_names(chosen)}.",
            documents={"token": snapshot(token, chosen)},
            request=request,
        )
    return CreatedToken(token=token, value=holder["value"])


def update_token(
    *,
    token: ApiToken | str,
    name: str | _Unset = UNSET,
    description: str | _Unset = UNSET,
    icon: str | _Unset = UNSET,
    modules: Iterable[Module] | _Unset = UNSET,
    actor: Actor,
    request: RequestContext | None = None,
) -> ApiToken:
    """Change only the fields given. Allowed in Active and Disabled; never changes status."""
    errors = validate_fields(name=name, description=description, icon=icon)
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        locked = _lock(token)
        if locked.status == TokenStatus.DELETED:
            raise TokenDeleted(token_id=locked.public_id, current=locked.status, action="edited")
        before_modules = list(locked.modules.all())
        changes: dict[str, dict[str, Any]] = {}
        for field, value in (("name", name), ("description", description), ("icon", icon)):
            if not isinstance(value, _Unset) and getattr(locked, field) != value:
                changes[field] = {"before": getattr(locked, field), "after": value}
                setattr(locked, field, value)
        after_modules = before_modules
        if not isinstance(modules, _Unset):
            after_modules = _check_modules(locked.account, modules)
            if {m.pk for m in after_modules} != {m.pk for m in before_modules}:
                changes["modules"] = {
                    "before": [m.public_id for m in before_modules],
                    "after": [m.public_id for m in after_modules],
                }
                locked.modules.set(after_modules)
        if not changes:
            return locked
        _stamp(locked, actor)
        locked.save(
            update_fields=[
                *(f for f in changes if f != "modules"),
                "updated_at",
                "updated_by_id",
                "updated_by_name",
                "updated_by_type",
            ]
        )
        record(
            event=EVENT_UPDATED,
            obj=token_ref(locked),
            actor=actor,
            account_id=locked.account.public_id,
            summary=f"API token {locked.name} ({locked.public_id}) updated: "
            + ", ".join(sorted(changes)),
            details=f"{describe_update(changes, before_modules, after_modules)}, {_by(actor)}.",
            documents={"changes": changes, "token": snapshot(locked, after_modules)},
            request=request,
        )
    return locked


def change_status(
    *,
    token: ApiToken | str,
    to: TokenStatus,
    actor: Actor,
    request: RequestContext | None = None,
) -> ApiToken:
    """Apply one row of the transition table, or raise ``InvalidTransition``."""
    with transaction.atomic():
        locked = _lock(token)
        current = TokenStatus(locked.status)
        verb = TRANSITIONS.get((current, to))
        if verb is None:
            error = TokenDeleted if current == TokenStatus.DELETED else InvalidTransition
            raise error(token_id=locked.public_id, current=current, action=_VERBS[to])
        locked.status = to
        _stamp(locked, actor)
        locked.save(
            update_fields=[
                "status",
                "updated_at",
                "updated_by_id",
                "updated_by_name",
                "updated_by_type",
            ]
        )
        record(
            event=EVENT_STATUS_CHANGED,
            obj=token_ref(locked),
            actor=actor,
            account_id=locked.account.public_id,
            summary=f"API token {locked.name} ({locked.public_id}) {verb}: {current} to {to}",
            details=f"Status: {current} → {to}, {_by(actor)}.",
            documents={"status": {"from": current, "to": to}, "token": snapshot(locked)},
            request=request,
        )
    return locked


def enable_token(
    *, token: ApiToken | str, actor: Actor, request: RequestContext | None = None
) -> ApiToken:
    return change_status(token=token, to=TokenStatus.ACTIVE, actor=actor, request=request)


def disable_token(
    *, token: ApiToken | str, actor: Actor, request: RequestContext | None = None
) -> ApiToken:
    return change_status(token=token, to=TokenStatus.DISABLED, actor=actor, request=request)


def delete_token(
    *, token: ApiToken | str, actor: Actor, request: RequestContext | None = None
) -> ApiToken:
    return change_status(token=token, to=TokenStatus.DELETED, actor=actor, request=request)


def decrypt_value(token: ApiToken) -> str:
    return token_secrets.decrypt(
        token.ciphertext, settings.TOKEN_ENCRYPTION_KEYS, aad=token.public_id
    )


def reveal_value(
    *,
    token: ApiToken | str,
    actor: Actor,
    copied: bool = False,
    request: RequestContext | None = None,
) -> str:
    """Decrypt the value for a person and record that they saw (or copied) it."""
    with transaction.atomic():
        locked = _lock(token)
        if locked.status == TokenStatus.DELETED:
            raise TokenDeleted(token_id=locked.public_id, current=locked.status, action="revealed")
        value = decrypt_value(locked)
        verb = "copied" if copied else "revealed"
        record(
            event=EVENT_VALUE_COPIED if copied else EVENT_VALUE_REVEALED,
            obj=token_ref(locked),
            actor=actor,
            account_id=locked.account.public_id,
            summary=f"Value of API token {locked.name} ({locked.public_id}) {verb} by {actor.name}",
            details=f"The value of API token {locked.name} ({locked.public_id}) was {verb} "
            f"on its details page {_by(actor)}, {(request or RequestContext()).where()}.",
            request=request,
        )
    return value


def record_reveal_failure(
    *, token: ApiToken, actor: Actor, request: RequestContext | None = None
) -> None:
    """A wrong password at the reveal prompt: recorded like a failed sign-in, the password
    itself never (it is not even passed in)."""
    where = (request.ip if request else "") or "an unknown address"
    with transaction.atomic():
        record(
            event=EVENT_VALUE_REVEAL_FAILED,
            obj=token_ref(token),
            actor=actor,
            account_id=token.account.public_id,
            summary=f"Reveal of API token {token.name} ({token.public_id}) refused for "
            f"{actor.name}: wrong password",
            details=f"Wrong password at the reveal prompt from {where}; the value was not shown.",
            request=request,
        )


def record_exposure(*, token: ApiToken, request: RequestContext | None = None) -> None:
    """A valid value arrived over plain HTTP: it must be treated as leaked."""
    with transaction.atomic():
        record(
            event=EVENT_EXPOSED,
            obj=token_ref(token),
            actor=actor_for_token(token),
            account_id=token.account.public_id,
            summary=f"API token {token.name} ({token.public_id}) was sent over plain HTTP",
            details="A valid value of this token arrived over plain HTTP "
            f"{(request or RequestContext()).where()}: it crossed the network unencrypted and "
            "must be treated as leaked. The request was refused; rotate the value.",
            request=request,
        )


def remove_account_modules(
    *,
    account: Account,
    modules: Iterable[Module],
    actor: Actor,
    request: RequestContext | None = None,
) -> list[Module]:
    """Take modules away from an account and, in the same transaction, from all its tokens.

    Lives here rather than in ``accounts`` because it reaches into tokens (dependencies point
    from ``apitokens`` to ``accounts``, never back). One audit record for the account and one
    per token changed. Returns the modules that were enabled and are now removed.
    """
    modules = list(dict.fromkeys(modules))
    removed: list[Module] = []
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        enabled = set(
            AccountModule.objects.filter(account=locked).values_list("module_id", flat=True)
        )
        for module in modules:
            if module.pk not in enabled:
                continue
            tokens = list(
                ApiToken.objects.select_for_update()
                .select_related("account")
                .filter(account=locked, modules=module)
                .order_by("pk")
            )
            for token in tokens:
                before = [m.public_id for m in token.modules.all()]
                token.modules.remove(module)
                _stamp(token, actor)
                token.save(
                    update_fields=[
                        "updated_at",
                        "updated_by_id",
                        "updated_by_name",
                        "updated_by_type",
                    ]
                )
                after = [m for m in before if m != module.public_id]
                record(
                    event=EVENT_UPDATED,
                    obj=token_ref(token),
                    actor=actor,
                    account_id=locked.public_id,
                    summary=f"API token {token.name} ({token.public_id}) lost module "
                    f"{module.name}: removed from the account",
                    details=f"Modules removed: {module.name} ({module.public_id}), because the "
                    f"module was removed from account {locked.name} {_by(actor)}.",
                    documents={
                        "changes": {"modules": {"before": before, "after": after}},
                        "token": snapshot(token),
                    },
                    request=request,
                )
            AccountModule.objects.filter(account=locked, module=module).delete()
            removed.append(module)
            record(
                event=EVENT_MODULE_REMOVED,
                obj=ObjectRef(id=locked.public_id, name=locked.name, object_type="Account"),
                actor=actor,
                account_id=locked.public_id,
                summary=f"Module {module.name} ({module.public_id}) removed from {locked.name}"
                f"; {len(tokens)} API token(s) changed",
                details=f"Module {module.name} ({module.public_id}) removed from account "
                f"{locked.name} ({locked.public_id}) {_by(actor)}; API tokens that lost it: "
                f"{', '.join(t.public_id for t in tokens) or 'none'}.",
                documents={
                    "module": {"id": module.public_id, "name": module.name},
                    "tokens": [t.public_id for t in tokens],
                },
                request=request,
            )
    return removed
