"""``manage.py bench_seed``: a large account for benchmarks and load tests, quickly.

Not there in production (the ``devtools`` app is installed only outside ``APP_ENV=production``).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection
from django.utils import timezone
from tqdm import tqdm

from accounts.errors import AccountNotFound
from accounts.models import Account, User
from accounts.services import get_account
from apitokens.models import ApiToken
from audit.models import AuditRecord
from devtools import token_seeding as seeding
from devtools.audit_seeding import seed_records
from tokens_admin.cli import add_json_flag

MAX_TOKENS = 1_000_000
MAX_AUDIT_RECORDS = 100_000_000
# Big transactions: each one rewrites every index page it touched (WAL on both databases),
# and the random keys of a batch touch most leaves of four indexes whatever its size.
RECORD_BATCH = 25_000


class Command(BaseCommand):
    help = (
        "Bulk-create a benchmark data set: a Client account (with every module it may have and "
        "one password-less Administrator), N API tokens with valid values, and M audit records "
        "chained like real ones, about those tokens. Development and test databases only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tokens", type=int, default=0, metavar="N", help="tokens to add")
        parser.add_argument(
            "--audit-records", type=int, default=0, metavar="M", help="audit records to add"
        )
        parser.add_argument(
            "--account",
            metavar="ACC-…",
            help="add to this existing account instead of creating a new one",
        )
        parser.add_argument("--name", help="name of the new account (default: Bench <time>)")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=RECORD_BATCH,
            help=f"audit records per transaction (default {RECORD_BATCH:,}; tokens go in "
            f"batches of {seeding.BATCH_SIZE:,})",
        )
        add_json_flag(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        tokens, records = options["tokens"], options["audit_records"]
        if not 0 <= tokens <= MAX_TOKENS:
            raise CommandError(f"--tokens must be between 0 and {MAX_TOKENS:,}")
        if not 0 <= records <= MAX_AUDIT_RECORDS:
            raise CommandError(f"--audit-records must be between 0 and {MAX_AUDIT_RECORDS:,}")
        if not 1 <= options["batch_size"] <= 100_000:
            raise CommandError("--batch-size must be between 1 and 100000")
        if tokens == 0 and records == 0:
            raise CommandError("nothing to do: give --tokens N and/or --audit-records M")
        try:
            report = self._seed(options, tokens, records)
        except AccountNotFound as exc:
            raise CommandError(exc.message) from None
        except DatabaseError as exc:
            raise CommandError(f"database error: {type(exc).__name__}: {exc}") from None
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            self.stdout.write(
                f"{report['tokens']:,} token(s) and {report['auditRecords']:,} audit record(s) "
                f"added to {report['accountName']} ({report['account']}) in "
                f"{report['seconds']['total']:.1f} s"
            )

    def _seed(self, options: dict[str, Any], tokens: int, records: int) -> dict[str, Any]:
        started = time.perf_counter()
        show = not options["json"] and sys.stderr.isatty()
        account, admin = _account(options)
        if connection.vendor == "sqlite":
            # A bigger page cache (256 MiB) for this connection only: the index pages of a
            # table growing by a million rows stay in memory instead of being re-read.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -262144")
        with tqdm(total=tokens, disable=not show, unit="token", file=sys.stderr) as bar:
            objects = seeding.seed_tokens(
                account=account,
                count=tokens,
                created_by=admin,
                batch_size=min(seeding.BATCH_SIZE, options["batch_size"]),
                on_batch=lambda done: _advance(bar, done),
            )
        tokens_done = time.perf_counter()
        if records and not objects:
            objects = list(
                ApiToken.objects.filter(account=account).values_list("public_id", "name")
            )
        with tqdm(total=records, disable=not show, unit="record", file=sys.stderr) as bar:
            seed_records(
                count=records,
                chains=[account.public_id],
                objects=objects,
                batch_size=options["batch_size"],
                on_batch=lambda done: _advance(bar, done),
            )
        _settle()
        finished = time.perf_counter()
        return {
            "account": account.public_id,
            "accountName": account.name,
            "admin": admin.public_id if admin is not None else None,
            "tokens": tokens,
            "auditRecords": records,
            "seconds": {
                "tokens": round(tokens_done - started, 2),
                "auditRecords": round(finished - tokens_done, 2),
                "total": round(finished - started, 2),
            },
        }


def _account(options: dict[str, Any]) -> tuple[Account, User | None]:
    """The account to fill (``--account``, else a new one) and the new one's administrator."""
    if options["account"]:
        return get_account(options["account"]), None
    name = options["name"] or f"Bench {timezone.now():%Y-%m-%d %H:%M:%S}"
    created = seeding.create_bench_account(name=name[:200])
    return created.account, created.admin


def _settle() -> None:
    """After the bulk load: leave the database as an operator would."""
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        # Leave the database file complete: the WAL of a bulk load would otherwise be
        # copied back by whichever request next triggers a checkpoint.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if connection.vendor == "postgresql":
        # Autovacuum would vacuum and analyze the new rows minutes later, in the middle of
        # whatever is measured then; until then the planner guesses (a date filter over
        # the audit trail took 260 ms instead of 0.2 ms) and index-only scans visit the
        # heap for every row (no visibility map yet). Do it now, as an operator would
        # after a bulk load.
        with connection.cursor() as cursor:
            for model in (ApiToken, ApiToken.modules.through, AuditRecord):
                table = connection.ops.quote_name(model._meta.db_table)
                # (VACUUM cannot run inside a transaction, as in the tests; ANALYZE can.)
                verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
                cursor.execute(f"{verb} {table}")


def _advance(bar: tqdm[Any], done: int) -> None:
    bar.update(done - bar.n)
