"""``manage.py seed_demo``: the demo data set used by ``make run``.

Not there in production: the ``devtools`` app is installed only outside ``APP_ENV=production``,
so an operator who runs it there gets Django's "Unknown command: 'seed_demo'" and nothing is
written (the demo users have a published password).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apitokens import services
from apitokens.models import ApiToken
from apitokens.secrets import SecretError
from devtools import demo
from tokens_admin.cli import add_json_flag


class Command(BaseCommand):
    help = (
        "Create the demo accounts, administrators, tokens and audit history (once), then print "
        "where to sign in, the demo credentials and one demo token value. Local demos only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            default="https://localhost:8443",
            help="where the server answers (for the banner)",
        )
        add_json_flag(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = demo.seed()
        except demo.DemoMissing as exc:
            raise CommandError(str(exc)) from None
        value = _demo_value(summary.token_id)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "created": summary.created,
                        "url": options["url"],
                        "accounts": summary.accounts,
                        "users": summary.users,
                        "password": demo.DEMO_PASSWORD,
                        "token": value,
                    },
                    indent=2,
                )
            )
            return
        url = options["url"].rstrip("/")
        lines = [
            "",
            "tokens-admin demo" + (" (created now)" if summary.created else ""),
            f"  Sign in at {url}/signin/ with password {demo.DEMO_PASSWORD!r} as:",
            *[f"    {u['email']:<26} {u['name']}" for u in summary.users],
            "  (demo data for local use only: the password is published in the README)",
            f"  A demo API token of the client account ({summary.token_id}), for the API:",
            f"    {value}",
            f"    curl --cacert var/tls/cert.pem -H 'Authorization: Bearer <token>' "
            f"{url}/public/v1/accounts/api-tokens",
            "",
        ]
        self.stdout.write("\n".join(lines))


def _demo_value(token_id: str) -> str:
    """The demo token's value, decrypted, not revealed: a re-run must write nothing, not even
    an audit record. Printed for the local demo only (the command is not there in production)."""
    token = ApiToken.objects.select_related("account").get(public_id=token_id)
    try:
        return services.decrypt_value(token)
    except SecretError:
        raise CommandError(
            f"the demo token {token_id} cannot be decrypted with the configured "
            "TOKEN_ENCRYPTION_KEYS (were the keys in var/dev-secrets.json replaced?)"
        ) from None
