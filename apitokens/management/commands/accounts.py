"""``manage.py accounts create|list|show|modules``: provision accounts and their modules.

A command of ``apitokens``, though it is about accounts: removing a module cascades to the
account's tokens (``apitokens.module_removal.remove_account_modules``), and ``accounts`` may not
import ``apitokens``. The command line is the same wherever the module lives."""

from __future__ import annotations

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
from apitokens.module_removal import remove_account_modules
from audit.types import Actor
from tokens_admin.api import iso
from tokens_admin.cli import ActionCommand, add_json_flag

MODULES_HELP = """\
Show the modules enabled for an account, or change them. --enable only accepts modules offered
to the account's type. --remove also takes the module away from every token of the account, in
the same transaction, with one audit record per token changed. Both flags take several ids and
may be repeated; a module may not be in both."""


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
