"""``manage.py users create``: a new user, or a new membership for an existing one."""

from __future__ import annotations

import getpass
import sys
from typing import IO, Any

from django.core.management.base import CommandError

from accounts.models import Role
from accounts.services import create_user, get_account
from audit.types import Actor
from tokens_admin.cli import ActionCommand, add_json_flag

CREATE_HELP = """\
Create a user with a membership in an account, or, when the email already exists, add (or
change) that user's membership; the existing password is left alone. Passwords never travel in
argv: with --password-stdin the first line of standard input is the password (a prompt without
echo when stdin is a terminal); without it a new user gets an unusable password and cannot sign
in until one is set."""


def read_password(stream: IO[str]) -> str:
    if stream.isatty():
        password = getpass.getpass("Password: ")
    else:
        password = stream.readline().rstrip("\r\n")
    if not password:
        raise CommandError("--password-stdin: no password on standard input.")
    return password


class Command(ActionCommand):
    help = "Create users and memberships."
    # Lets tests (and callers of call_command) hand in a stream instead of sys.stdin.
    stealth_options = ("stdin",)

    def add_actions(self, subparsers: Any) -> None:
        create = subparsers.add_parser(
            "create", help="create a user or add a membership", description=CREATE_HELP
        )
        create.add_argument("--email", required=True, help="login email")
        create.add_argument("--name", required=True, help="display name")
        create.add_argument("--account", required=True, metavar="ACC-…", help="account id")
        create.add_argument("--role", required=True, choices=Role.values, help="role there")
        create.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input",
        )
        add_json_flag(create)

    def handle_create(self, **options: Any) -> None:
        account = get_account(options["account"])
        password = None
        if options["password_stdin"]:
            password = read_password(options.get("stdin") or sys.stdin)
        user, created = create_user(
            email=options["email"],
            name=options["name"],
            password=password,
            account=account,
            role=options["role"],
            actor=Actor.system(),
        )
        if not created and password is not None:
            self.stderr.write(
                f"{user.email} already exists: membership updated, password left unchanged."
            )
        data = {
            "id": user.public_id,
            "email": user.email,
            "name": user.name,
            "created": created,
            "usablePassword": user.has_usable_password(),
            "membership": {"account": account.public_id, "role": options["role"]},
        }
        what = "Created user" if created else "Updated membership of"
        text = f"{what} {user.public_id} {user.email}: {options['role']} of {account.public_id}"
        if created and not user.has_usable_password():
            text += " (no password set: the user cannot sign in yet)"
        self.emit(options, data, text)
