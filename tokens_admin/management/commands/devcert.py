"""``manage.py devcert``: a local HTTPS certificate under var/tls/ (for ``make run``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cryptography import x509
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tokens_admin.tls import write_certificate

# Renew a little before expiry so a long-lived checkout never serves an expired certificate.
RENEW_BEFORE = dt.timedelta(days=7)


def needs_new_certificate(cert: Path, key: Path) -> str | None:
    """Why the pair must be (re)generated, or None when it is usable as it is."""
    if not cert.exists() or not key.exists():
        return "no certificate yet"
    try:
        certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    except ValueError:
        return "the old one is unreadable"
    if certificate.not_valid_after_utc - RENEW_BEFORE < dt.datetime.now(dt.UTC):
        return "the old one expires soon"
    return None


class Command(BaseCommand):
    help = (
        "Generate a self-signed certificate and key for localhost, 127.0.0.1 and ::1 "
        "(cert.pem, key.pem with mode 0600) unless a valid pair is already there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            help="where to write cert.pem and key.pem (default: $VAR_DIR/tls)",
        )
        parser.add_argument(
            "--force", action="store_true", help="replace the pair even if it is still valid"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory: Path = options["dir"] or Path(settings.VAR_DIR) / "tls"
        cert, key = directory / "cert.pem", directory / "key.pem"
        reason = "--force" if options["force"] else needs_new_certificate(cert, key)
        if reason is None:
            self.stdout.write(f"certificate already at {cert}")
            return
        try:
            # A fresh file gets mode 0600; truncating an old one would keep its mode.
            key.unlink(missing_ok=True)
            write_certificate(directory)
        except OSError as exc:
            raise CommandError(
                f"cannot write the certificate in {directory}: {exc.strerror}"
            ) from None
        self.stdout.write(f"wrote {cert} and {key} ({reason})")
