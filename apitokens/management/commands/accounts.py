"""``manage.py accounts create|list|show|modules|policy``: provision accounts, their modules
and their token lifetime policy.

A command of ``apitokens``, though it is about accounts: removing a module cascades to the
account's tokens (``apitokens.module_removal.remove_account_modules``), and ``accounts`` may not
import ``apitokens``. The command line is the same wherever the module lives."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction

from accounts.models import Account, AccountType, Module
from accounts.services import (
    create_account,
    enable_account_modules,
    get_account,
    resolve_modules,
)
from apitokens import lifetime
from apitokens import policy as policies
from apitokens.lifetime import MAX_LIFETIME_DAYS
from apitokens.models import ApiToken
from apitokens.module_removal import remove_account_modules
from apitokens.rules import UNSET
from audit.types import Actor
from tokens_admin.api import iso
from tokens_admin.cli import ActionCommand, add_json_flag

MODULES_HELP = """\
Show the modules enabled for an account, or change them. --enable only accepts modules offered
to the account's type. --remove also takes the module away from every token of the account, in
the same transaction, with one audit record per token changed. Both flags take several ids and
may be repeated; a module may not be in both."""


POLICY_HELP = f"""\
Show an account's token lifetime policy, or change it. --max-lifetime-days takes 1-{MAX_LIFETIME_DAYS} or
"none". Tightening never shortens a token by itself: the tokens the new policy would refuse
are listed, and --apply shortens each one past the maximum to the maximum from now (one audit
record per token)."""


def lifetime_days(text: str) -> int | None:
    if text.lower() == "none":
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIFETIME_DAYS:
        raise argparse.ArgumentTypeError(f"expected 1-{MAX_LIFETIME_DAYS} or none, got {text!r}")
    return int(text)


def yes_no(text: str) -> bool:
    if text.lower() not in ("yes", "no"):
        raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")
    return text.lower() == "yes"


def _expiring(token: ApiToken) -> dict[str, Any]:
    return {"id": token.public_id, "name": token.name, "expiresAt": iso(token.expires_at)}


def account_json(account: Account, *, with_modules: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": account.public_id,
        "name": account.name,
        "type": account.type,
        "status": account.status,
        "createdAt": iso(account.created_at),
    }
    if with_modules:
        data["modules"] = [module_json(m) for m in enabled_modules(account)]
    return data


def module_json(module: Module) -> dict[str, Any]:
    return {"id": module.public_id, "name": module.name, "code": module.code}


def enabled_modules(account: Account) -> list[Module]:
    return list(Module.objects.filter(accountmodule__account=account).order_by("public_id"))


def module_lines(modules: list[Module]) -> list[str]:
    if not modules:
        return ["  (no modules enabled)"]
    return [f"  {m.public_id}  {m.name}" for m in modules]


class Command(ActionCommand):
    help = "Create, list and show accounts, and change the modules enabled for an account."

    def add_actions(self, subparsers: Any) -> None:
        create = subparsers.add_parser(
            "create",
            help="create an account and print its id",
            description="Create an account (audited as System) and print its new ACC- id.",
        )
        create.add_argument("--name", required=True, help="account name (1-200 characters)")
        create.add_argument(
            "--type", required=True, choices=AccountType.values, help="account type"
        )
        add_json_flag(create)

        listing = subparsers.add_parser("list", help="list every account")
        add_json_flag(listing)

        show = subparsers.add_parser("show", help="one account with its enabled modules")
        show.add_argument("account", metavar="ACC-…", help="account id")
        add_json_flag(show)

        modules = subparsers.add_parser(
            "modules", help="show or change an account's modules", description=MODULES_HELP
        )
        modules.add_argument("account", metavar="ACC-…", help="account id")
        modules.add_argument(
            "--enable", nargs="+", action="extend", default=[], metavar="MOD-…", help="enable"
        )
        modules.add_argument(
            "--remove",
            nargs="+",
            action="extend",
            default=[],
            metavar="MOD-…",
            help="remove (cascades to the account's tokens)",
        )
        add_json_flag(modules)

        policy = subparsers.add_parser(
            "policy",
            help="show or change an account's token lifetime policy",
            description=POLICY_HELP,
        )
        policy.add_argument("account", metavar="ACC-…", help="account id")
        policy.add_argument(
            "--max-lifetime-days", type=lifetime_days, default=UNSET, metavar="N|none"
        )
        policy.add_argument("--require-expiry", type=yes_no, default=UNSET, metavar="yes|no")
        policy.add_argument(
            "--apply", action="store_true", help="shorten the tokens past the new maximum"
        )
        add_json_flag(policy)

    def handle_create(self, **options: Any) -> None:
        account = create_account(name=options["name"], type=options["type"], actor=Actor.system())
        # Text output is the bare id so a script can write ACC=$(manage.py accounts create …).
        self.emit(options, account_json(account), account.public_id)

    def handle_list(self, **options: Any) -> None:
        accounts = list(Account.objects.order_by("name", "public_id"))
        lines = [f"{a.public_id}  {a.type:<10}  {a.status:<8}  {a.name}" for a in accounts]
        self.emit(
            options,
            [account_json(a) for a in accounts],
            "\n".join(lines) if lines else "No accounts.",
        )

    def handle_show(self, **options: Any) -> None:
        account = get_account(options["account"])
        self.emit(options, account_json(account, with_modules=True), self._describe(account))

    def handle_modules(self, **options: Any) -> None:
        account = get_account(options["account"])
        enable = resolve_modules(options["enable"])
        remove = resolve_modules(options["remove"])
        both = sorted({m.public_id for m in enable} & {m.public_id for m in remove})
        if both:
            raise CommandError(f"Module in both --enable and --remove: {', '.join(both)}.")
        actor = Actor.system()
        with transaction.atomic():  # both lists or neither
            added = enable_account_modules(account=account, modules=enable, actor=actor)
            removed = remove_account_modules(account=account, modules=remove, actor=actor)
        data = account_json(account, with_modules=True)
        data["enabled"] = [m.public_id for m in added]
        data["removed"] = [m.public_id for m in removed]
        changes = [f"Enabled {m.public_id} ({m.name})" for m in added]
        changes += [f"Removed {m.public_id} ({m.name})" for m in removed]
        if (enable or remove) and not changes:
            changes = ["Nothing changed."]
        self.emit(options, data, "\n".join([*changes, self._describe(account)]))

    def handle_policy(self, **options: Any) -> None:
        account = get_account(options["account"])
        actor = Actor.system()
        with transaction.atomic():  # the policy and the tokens it shortens, or neither
            change = policies.update_policy(
                account=account,
                max_lifetime_days=options["max_lifetime_days"],
                require_expiry=options["require_expiry"],
                actor=actor,
            )
            shortened = (
                policies.apply_policy(account=account, actor=actor) if options["apply"] else []
            )
            left = (
                policies.exceeding(account, lifetime.limits_of(account))
                if shortened
                else change.exceeding
            )
        most = change.policy.max_lifetime_days
        data = {
            "account": {"id": account.public_id, "name": account.name},
            "maxLifetimeDays": most,
            "requireExpiry": change.policy.require_expiry,
            "shortened": [_expiring(t) for t in shortened],
            "exceeding": [_expiring(t) for t in left],
        }
        lines = [
            f"{account.public_id}  {account.name}",
            f"Maximum lifetime: {f'{most} days' if most is not None else 'none'}",
            f"Expiry required: {'yes' if change.policy.require_expiry else 'no'}",
            *(f"Shortened {t.public_id} ({t.name}) to {iso(t.expires_at)}" for t in shortened),
        ]
        if left:
            lines.append("Tokens outside this policy (--apply shortens those past the maximum):")
            lines += [
                f"  {t.public_id}  {iso(t.expires_at) or 'never':<24}  {t.name}" for t in left
            ]
        self.emit(options, data, "\n".join(lines))

    def _describe(self, account: Account) -> str:
        return "\n".join(
            [
                f"{account.public_id}  {account.name}",
                f"Type: {account.type}",
                f"Status: {account.status}",
                "Modules:",
                *module_lines(enabled_modules(account)),
            ]
        )
