"""``manage.py keys rotate``: re-encrypt stored values under the newest key."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError
from tqdm import tqdm

from apitokens import rotation
from tokens_admin.cli import ActionCommand, add_json_flag


class Command(ActionCommand):
    help = (
        "Key management. 'rotate' re-encrypts every stored token value under the newest key of "
        "TOKEN_ENCRYPTION_KEYS (the first one). Resumable: run it again after an interruption."
    )

    def add_actions(self, subparsers: Any) -> None:
        rotate = subparsers.add_parser("rotate", help="re-encrypt values under the newest key")
        rotate.add_argument("--batch-size", type=int, default=500, help="rows per transaction")
        add_json_flag(rotate)

    def handle_rotate(self, **options: Any) -> None:
        batch_size = options["batch_size"]
        if not 1 <= batch_size <= 10_000:
            raise CommandError("--batch-size must be between 1 and 10000")
        pending = rotation.pending_count()
        show = not options["json"] and sys.stderr.isatty()
        with tqdm(total=pending, disable=not show, unit="token", file=sys.stderr) as bar:

            def advance(rows: int) -> None:
                bar.update(rows)

            report = rotation.rotate(batch_size=batch_size, on_batch=advance)
        data = {
            "newestKey": report.newest_key,
            "pending": report.pending,
            "rotated": report.rotated,
            "failed": report.failed,
        }
        self.emit(
            options,
            data,
            f"{report.rotated} of {report.pending} value(s) re-encrypted under key "
            f"{report.newest_key}",
        )
        if report.failed:
            raise CommandError(
                f"{len(report.failed)} value(s) could not be decrypted with any configured key "
                f"(first: {', '.join(report.failed[:5])}); they were left as they are"
            )
