"""``manage.py seed_demo``: the demo data set used by ``make run``."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apitokens import demo, services
from apitokens.models import ApiToken
from apitokens.secrets import SecretError
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
        parser.add_argument(
            "--force",
            action="store_true",
            help="run even with APP_ENV=production (creates users with a published password)",
        )
        add_json_flag(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION and not options["force"]:
            raise CommandError(
                "seed_demo creates users with a published password; refusing with "
                "APP_ENV=production (use --force if you really mean it)"
            )
        try:
            summary = demo.seed()
            token = ApiToken.objects.select_related("account").get(public_id=summary.token_id)
            # Decrypted, not revealed: a re-run must write nothing, not even an audit record.
            # The value is printed for the local demo only (production is refused above).
            value = services.decrypt_value(token)
        except demo.DemoMissing as exc:
            raise CommandError(str(exc)) from None
        except SecretError:
            raise CommandError(
                f"the demo token {summary.token_id} cannot be decrypted with the configured "
                "TOKEN_ENCRYPTION_KEYS (were the keys in var/dev-secrets.json replaced?)"
            ) from None
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
