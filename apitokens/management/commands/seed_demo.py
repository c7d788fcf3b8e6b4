"""``manage.py seed_demo``: the demo data set used by ``make run``."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apitokens import demo, services
from audit.types import Actor
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
        parser.add_argument("--force", action="store_true", help="run even with APP_ENV=production")
        add_json_flag(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION and not options["force"]:
            raise CommandError(
                "seed_demo creates users with a published password; refusing with "
                "APP_ENV=production (use --force if you really mean it)"
            )
        summary = demo.seed()
        value = services.reveal_value(
            token=summary.token_id, actor=Actor.system(), request=demo.DEMO_REQUEST
        )
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
            f"  A demo API token of the client account ({summary.token_id}), for the API:",
            f"    {value}",
            f"    curl --cacert var/tls/cert.pem -H 'Authorization: Bearer <token>' "
            f"{url}/public/v1/accounts/api-tokens",
            "",
        ]
        self.stdout.write("\n".join(lines))
