"""Shared plumbing for the operator commands (SPEC section 7).

Commands with sub-actions (``accounts create``, ``tokens list`` …) subclass ``ActionCommand``:
each action is a ``handle_<action>`` method; domain errors become one clear line on stderr and
a non-zero exit; ``--json`` prints exactly one JSON document on stdout.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError

from tokens_admin.errors import DomainError, ValidationFailed


def add_json_flag(parser: CommandParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout instead of text"
    )


def error_line(error: DomainError) -> str:
    if isinstance(error, ValidationFailed):
        return "; ".join(
            f"{field}: {' '.join(msgs)}" for field, msgs in sorted(error.errors.items())
        )
    return error.message


class ActionCommand(BaseCommand):
    """A command whose first argument is an action with its own options."""

    actions_dest = "action"

    def add_actions(self, subparsers: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(dest=self.actions_dest, required=True, metavar="ACTION")
        self.add_actions(subparsers)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options[self.actions_dest].replace("-", "_")
        handler = getattr(self, f"handle_{action}")
        try:
            handler(**options)
        except DomainError as exc:
            raise CommandError(error_line(exc)) from None
        except DatabaseError as exc:
            raise CommandError(f"database error: {type(exc).__name__}: {exc}") from None

    def emit(self, options: dict[str, Any], data: Any, text: str) -> None:
        """Print ``data`` as JSON when ``--json`` was given, otherwise ``text``."""
        if options.get("json"):
            self.stdout.write(json.dumps(data, cls=DjangoJSONEncoder, indent=2))
        else:
            self.stdout.write(text)
