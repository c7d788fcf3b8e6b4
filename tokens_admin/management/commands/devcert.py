"""``manage.py devcert``: a local HTTPS certificate under var/tls/ (for ``make run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tokens_admin.tls import write_certificate


class Command(BaseCommand):
    help = "Generate a self-signed certificate for localhost, 127.0.0.1 and ::1 (if missing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            help="where to write cert.pem and key.pem (default: $VAR_DIR/tls)",
        )
        parser.add_argument("--force", action="store_true", help="replace an existing pair")

    def handle(self, *args: Any, **options: Any) -> None:
        directory: Path = options["dir"] or Path(settings.VAR_DIR) / "tls"
        cert, key = directory / "cert.pem", directory / "key.pem"
        if cert.exists() and key.exists() and not options["force"]:
            self.stdout.write(f"certificate already at {cert}")
            return
        try:
            write_certificate(directory)
        except OSError as exc:
            raise CommandError(
                f"cannot write the certificate in {directory}: {exc.strerror}"
            ) from None
        self.stdout.write(f"wrote {cert} and {key}")
