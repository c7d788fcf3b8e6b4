"""Token lifecycle: create, update, enable, disable, delete, reveal (SPEC section 2).

Every function is one transaction that locks the token row, checks the transition table,
applies the change and writes its audit record; two concurrent requests on one token queue on
the row lock, and the loser sees the winner's state and a named error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account, AccountModule, AccountStatus, Module
from apitokens import edits, networks
from apitokens import secrets as token_secrets
from apitokens.describe import (
    by,
    describe_update,
    module_names,
    snapshot,
    token_ref,
)
from apitokens.errors import (
    AccountNotActive,
    AlreadyCreated,
    InvalidTransition,
    ModuleNotEnabled,
    TokenDeleted,
    TokenExpired,
    TokenNotFound,
)
from apitokens.lifetime import describe_expiry, expiry_errors, limits_of
from apitokens.models import ApiToken, CreationKey, TokenStatus
from apitokens.rules import UNSET, Unset, validate_fields
from audit.recorder import record
from audit.types import Actor, RequestContext
from tokens_admin.errors import ValidationFailed
from tokens_admin.public_ids import insert_with_public_id

EVENT_CREATED = "platform.accounts.api_token.created"
EVENT_UPDATED = "platform.accounts.api_token.updated"
EVENT_STATUS_CHANGED = "platform.accounts.api_token.status_changed"
EVENT_VALUE_REVEALED = "platform.accounts.api_token.value_revealed"
EVENT_VALUE_COPIED = "platform.accounts.api_token.value_copied"
EVENT_VALUE_REVEAL_FAILED = "platform.accounts.api_token.value_reveal_failed"

# (from, to) -> the verb used in messages. Anything not listed is refused.
TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    (TokenStatus.ACTIVE, TokenStatus.DISABLED): "disabled",
    (TokenStatus.DISABLED, TokenStatus.ACTIVE): "enabled",
    (TokenStatus.ACTIVE, TokenStatus.DELETED): "deleted",
    (TokenStatus.DISABLED, TokenStatus.DELETED): "deleted",
}
# The target status -> its verb, for the error of a refused change.
_VERBS: Final = {to: verb for (_, to), verb in TRANSITIONS.items()}


@dataclass(frozen=True, slots=True)
class CreatedToken:
    token: ApiToken
    value: str


def _check_modules(account: Account, modules: Iterable[Module]) -> list[Module]:
    modules = list(dict.fromkeys(modules))
    enabled = set(AccountModule.objects.filter(account=account).values_list("module_id", flat=True))
    refused = [m for m in modules if m.pk not in enabled]
    if refused:
        raise ModuleNotEnabled([m.public_id for m in refused])
    return modules


STAMP_FIELDS: Final = ("updated_at", "updated_by_id", "updated_by_name", "updated_by_type")


def stamp(token: ApiToken, actor: Actor) -> None:
    token.updated_at = timezone.now()
    token.updated_by_id = actor.id
    token.updated_by_name = actor.name
    token.updated_by_type = str(actor.type)


def lock_token(token: ApiToken | str) -> ApiToken:
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


def seal_value(token: ApiToken) -> str:
    """A new value for ``token`` (its id is known by now), kept as a digest and encrypted."""
    value = token_secrets.generate_value(token.public_id)
    token.digest = token_secrets.digest(value, settings.TOKEN_PEPPER)
    token.ciphertext = token_secrets.encrypt(
        value, settings.TOKEN_ENCRYPTION_KEYS, aad=token.public_id
    )
    token.key_id = token_secrets.key_id_of(token.ciphertext)
    return value


def _new_token(account: Account, name: str, description: str, icon: str, actor: Actor) -> ApiToken:
    token = ApiToken(
        account=account,
        name=name,
        description=description,
        icon=icon,
        created_by_id=actor.id,
        created_by_name=actor.name,
        created_by_type=str(actor.type),
    )
    stamp(token, actor)
    token.created_at = token.updated_at
    return token


def _refuse_used_key(key: str) -> None:
    earlier = CreationKey.objects.filter(key=key).select_related("token").first()
    if earlier is not None:
        raise AlreadyCreated(earlier.token)


def _lock_active_account(account: Account, once: str) -> Account:
    """The account, locked (creates of one account queue here), if it may get a token."""
    locked = Account.objects.select_for_update().get(pk=account.pk)
    if once:
        _refuse_used_key(once)
    if locked.status != AccountStatus.ACTIVE:
        raise AccountNotActive(f"Account {locked.public_id} is disabled.")
    return locked


def _record_created(
    token: ApiToken,
    account: Account,
    chosen: list[Module],
    *,
    actor: Actor,
    request: RequestContext | None,
) -> None:
    record(
        event=EVENT_CREATED,
        obj=token_ref(token),
        actor=actor,
        account_id=account.public_id,
        summary=f"API token {token.name} ({token.public_id}) created",
        details=f"API token {token.name} ({token.public_id}) created in account "
        f"{account.name} ({account.public_id}) {by(actor)}, with modules: "
        f"{module_names(chosen)}; expires: {describe_expiry(token.expires_at)}.",
        documents={"token": snapshot(token, chosen)},
        request=request,
    )


def create_token(
    *,
    account: Account,
    name: str,
    description: str = "",
    icon: str = "",
    modules: Iterable[Module] = (),
    expires_at: datetime | None = None,
    allowed_ips: Iterable[str] = (),
    actor: Actor,
    request: RequestContext | None = None,
    once: str = "",
) -> CreatedToken:
    """Create an Active token; the value is returned once and kept only encrypted.
    ``expires_at`` must meet the account's lifetime policy.

    ``once``, a creation key (the Add wizard's nonce), makes the create happen at most once:
    another create with the same key, at the same moment or later, raises ``AlreadyCreated``
    with the token the first one made. Creates of one account queue on its row lock, so the
    second sees the first's key; the key's unique index covers the rest (another account)."""
    errors = validate_fields(name=name, description=description, icon=icon)
    ranges = edits.ranges(allowed_ips, errors)
    if errors:
        raise ValidationFailed(errors)
    holder: dict[str, str] = {}

    def seal(token: ApiToken) -> None:
        holder["value"] = seal_value(token)

    try:
        with transaction.atomic():
            locked_account = _lock_active_account(account, once)
            chosen = _check_modules(locked_account, modules)
            refused = expiry_errors(expires_at, limits_of(locked_account))
            if refused:
                raise ValidationFailed({"expiresAt": refused})
            token = _new_token(locked_account, name, description, icon, actor)
            token.expires_at = expires_at
            token.allowed_ips = networks.stored(ranges)
            insert_with_public_id(token, prefix="TKN", groups=2, before_save=seal)
            token.modules.set(chosen)
            if once:
                CreationKey.objects.create(key=once, token=token)
            _record_created(token, locked_account, chosen, actor=actor, request=request)
    except IntegrityError:
        if not once:
            raise
        _refuse_used_key(once)  # the key's unique index refused our insert
        raise
    return CreatedToken(token=token, value=holder["value"])


def update_token(
    *,
    token: ApiToken | str,
    name: str | Unset = UNSET,
    description: str | Unset = UNSET,
    icon: str | Unset = UNSET,
    modules: Iterable[Module] | Unset = UNSET,
    expires_at: datetime | Unset | None = UNSET,
    allowed_ips: Iterable[str] | Unset = UNSET,
    actor: Actor,
    request: RequestContext | None = None,
) -> ApiToken:
    """Change only the fields given. Allowed in Active and Disabled; never changes status.
    A new ``expires_at`` must meet the account's lifetime policy (an Administrator extends an
    expired token this way)."""
    errors = validate_fields(name=name, description=description, icon=icon)
    ranges = UNSET if isinstance(allowed_ips, Unset) else edits.ranges(allowed_ips, errors)
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        locked = lock_token(token)
        if locked.status == TokenStatus.DELETED:
            raise TokenDeleted(token_id=locked.public_id, current=locked.status, action="edited")
        before_modules = list(locked.modules.all())
        changes = edits.apply_fields(locked, name=name, description=description, icon=icon)
        after_modules = before_modules
        if not isinstance(modules, Unset):
            after_modules = _check_modules(locked.account, modules)
            changes |= edits.apply_modules(locked, before_modules, after_modules)
        changes |= edits.apply_expiry(locked, expires_at)
        changes |= edits.apply_ranges(locked, ranges)
        if not changes:
            return locked
        stamp(locked, actor)
        saved = [f for f in changes if f != "modules"]
        if "expires_at" in changes:
            saved.append("expiry_recorded")
        locked.save(update_fields=[*saved, *STAMP_FIELDS])
        record(
            event=EVENT_UPDATED,
            obj=token_ref(locked),
            actor=actor,
            account_id=locked.account.public_id,
            summary=f"API token {locked.name} ({locked.public_id}) updated: "
            + ", ".join(sorted(changes)),
            details=f"{describe_update(changes, before_modules, after_modules)}, {by(actor)}.",
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
        locked = lock_token(token)
        current = TokenStatus(locked.status)
        verb = TRANSITIONS.get((current, to))
        if verb is None:
            error = TokenDeleted if current == TokenStatus.DELETED else InvalidTransition
            raise error(token_id=locked.public_id, current=current, action=_VERBS[to])
        if to == TokenStatus.ACTIVE and locked.is_expired:
            raise TokenExpired(locked.public_id)
        locked.status = to
        stamp(locked, actor)
        locked.save(update_fields=["status", *STAMP_FIELDS])
        record(
            event=EVENT_STATUS_CHANGED,
            obj=token_ref(locked),
            actor=actor,
            account_id=locked.account.public_id,
            summary=f"API token {locked.name} ({locked.public_id}) {verb}: {current} to {to}",
            details=f"Status: {current} → {to}, {by(actor)}.",
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
        locked = lock_token(token)
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
            f"on its details page {by(actor)}, {(request or RequestContext()).where()}.",
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
