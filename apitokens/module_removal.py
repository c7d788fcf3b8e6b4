"""Taking a module away from an account, and so from every token of it (SPEC section 1).

Lives in ``apitokens`` rather than ``accounts`` because it reaches into tokens (dependencies
point from ``apitokens`` to ``accounts``, never back).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from django.db import transaction

from accounts.models import Account, AccountModule, Module
from apitokens.describe import by, snapshot, token_ref
from apitokens.models import ApiToken
from apitokens.services import EVENT_UPDATED, STAMP_FIELDS, stamp
from audit.recorder import record
from audit.types import Actor, ObjectRef, RequestContext

EVENT_MODULE_REMOVED: Final = "platform.accounts.account.module_removed"


def remove_account_modules(
    *,
    account: Account,
    modules: Iterable[Module],
    actor: Actor,
    request: RequestContext | None = None,
) -> list[Module]:
    """Take modules away from an account and, in the same transaction, from all its tokens:
    one audit record for the account and one per token changed. Returns the modules that
    were enabled and are now removed."""
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
                _take_from_token(token, module, locked, actor, request)
            AccountModule.objects.filter(account=locked, module=module).delete()
            removed.append(module)
            _record_removal(locked, module, tokens, actor, request)
    return removed


def _take_from_token(
    token: ApiToken,
    module: Module,
    account: Account,
    actor: Actor,
    request: RequestContext | None,
) -> None:
    before = [m.public_id for m in token.modules.all()]
    token.modules.remove(module)
    stamp(token, actor)
    token.save(update_fields=list(STAMP_FIELDS))
    after = [m for m in before if m != module.public_id]
    record(
        event=EVENT_UPDATED,
        obj=token_ref(token),
        actor=actor,
        account_id=account.public_id,
        summary=f"API token {token.name} ({token.public_id}) lost module "
        f"{module.name}: removed from the account",
        details=f"Modules removed: {module.name} ({module.public_id}), because the "
        f"module was removed from account {account.name} {by(actor)}.",
        documents={
            "changes": {"modules": {"before": before, "after": after}},
            "token": snapshot(token),
        },
        request=request,
    )


def _record_removal(
    account: Account,
    module: Module,
    tokens: list[ApiToken],
    actor: Actor,
    request: RequestContext | None,
) -> None:
    record(
        event=EVENT_MODULE_REMOVED,
        obj=ObjectRef(id=account.public_id, name=account.name, object_type="Account"),
        actor=actor,
        account_id=account.public_id,
        summary=f"Module {module.name} ({module.public_id}) removed from {account.name}"
        f"; {len(tokens)} API token(s) changed",
        details=f"Module {module.name} ({module.public_id}) removed from account "
        f"{account.name} ({account.public_id}) {by(actor)}; API tokens that lost it: "
        f"{', '.join(t.public_id for t in tokens) or 'none'}.",
        documents={
            "module": {"id": module.public_id, "name": module.name},
            "tokens": [t.public_id for t in tokens],
        },
        request=request,
    )
