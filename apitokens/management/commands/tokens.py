"""``manage.py tokens create|list|show|enable|disable|delete|scan``.

Operators act as the System actor. Only ``create`` ever prints a value, once; everything else
prints ids, statuses and at most a masked value.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management.base import CommandError

from accounts.services import get_account, resolve_modules
from apitokens import notices, services
from apitokens import secrets as token_secrets
from apitokens.api_json import token_json
from apitokens.errors import InvalidTransition, TokenNotFound
from apitokens.models import ApiToken, TokenStatus
from apitokens.selectors import in_status
from audit.types import Actor
from tokens_admin.api import Selection
from tokens_admin.cli import ActionCommand, add_json_flag

FIELDS = Selection(
    ("id", "name", "description", "icon", "status", "lastAccessAt", "account", "modules")
)
FIELDS_FULL = Selection((*FIELDS.fields, "audit"))

SCAN_HELP = """\
Look for checksum-valid token values in files (directories are searched recursively) and report
file:line, the token id, a masked value and whether the token exists here and its status. A
value only counts as a token of ours when its secret matches the stored digest. With --disable,
every Active token found is disabled (audited as System).
Binary files (a NUL byte in the first 8 KiB), unreadable files and anything that is not a
regular file are skipped and reported on stderr; symbolic links inside a directory are not
followed, so the scan never leaves the tree. Files are read in 1 MiB chunks, whatever their
line lengths, so memory stays constant.
Exit status: 1 when any value was found (even one already disabled, deleted or unknown here),
like a secret scanner in CI, or when a PATH cannot be read; 0 when clean."""

NOTIFY_HELP = """\
Send the emails that are due: 30, 7 and 1 days before a token expires, when it expired, and
after every rotation, to the token's creator and its account's Administrators (one message
per token). Also writes the expired record of every token whose expiry passed unnoticed.
Run it from cron or a systemd timer, as often as every minute, on any number of nodes: each
notice is sent once. Mail goes through EMAIL_HOST/EMAIL_PORT (see .env.example). Exit status
1 when the mail server could not be reached or refused a message: that notice and the rest
stay pending for the next run."""

CHUNK = 1 << 20
BINARY_SNIFF = 8192
# A match needs one character after it (the scanner's look-ahead) before it can be trusted.
TAIL = token_secrets.VALUE_LENGTH + 1


@dataclass(frozen=True, slots=True)
class Finding:
    path: str
    line: int
    value: str = field(repr=False)

    @property
    def token_id(self) -> str:
        return self.value.split(":")[1]


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0


def values_in(stream: IO[bytes], first: bytes) -> Iterator[tuple[int, str]]:
    """Yield ``(line, value)`` for every checksum-valid value, reading in bounded chunks.

    Bytes are decoded as Latin-1 (one character per byte, never fails): values are ASCII, and
    a file in any other encoding is still searched. Only the last ``TAIL`` characters of a
    chunk are carried into the next one, so a value split across chunks is still found, and a
    position is only judged once the character after a would-be value is known.
    """
    pattern = token_secrets.VALUE_SCAN_RE
    buffer = ""
    line = 1  # line number of buffer[0]
    start = 0  # first index of buffer not judged yet
    chunk = first
    while True:
        eof = not chunk
        buffer += chunk.decode("latin-1")
        limit = len(buffer) if eof else max(len(buffer) - TAIL + 1, start)
        counted, counted_line = 0, line
        for match in pattern.finditer(buffer, start):
            if match.start() >= limit:
                break
            counted_line += buffer.count("\n", counted, match.start())
            counted = match.start()
            if token_secrets.parse_value(match.group(0)) is not None:
                yield counted_line, match.group(0)
        if eof:
            return
        # Keep one character before ``limit`` for the scanner's look-behind.
        cut = max(limit - 1, 0)
        line += buffer.count("\n", 0, cut)
        buffer = buffer[cut:]
        start = limit - cut
        chunk = stream.read(CHUNK)


def scan_file(path: Path, result: ScanResult) -> None:
    try:
        with path.open("rb") as stream:
            first = stream.read(CHUNK)
            if b"\0" in first[:BINARY_SNIFF]:
                result.skipped.append((str(path), "binary file"))
                return
            result.files += 1
            for line, value in values_in(stream, first):
                result.findings.append(Finding(path=str(path), line=line, value=value))
    except OSError as exc:
        result.skipped.append((str(path), exc.strerror or str(exc)))


def scan_tree(root: Path, result: ScanResult) -> None:
    def unreadable(exc: OSError) -> None:
        result.skipped.append((str(exc.filename), exc.strerror or str(exc)))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable, followlinks=False):
        here = Path(dirpath)
        for name in list(dirnames):
            if (here / name).is_symlink():
                result.skipped.append((str(here / name), "symbolic link not followed"))
        dirnames.sort()
        for name in sorted(filenames):
            path = here / name
            try:
                mode = path.lstat().st_mode
            except OSError as exc:
                result.skipped.append((str(path), exc.strerror or str(exc)))
                continue
            if stat.S_ISLNK(mode):
                result.skipped.append((str(path), "symbolic link not followed"))
            elif not stat.S_ISREG(mode):
                result.skipped.append((str(path), "not a regular file"))
            else:
                scan_file(path, result)


def scan_paths(paths: list[str]) -> ScanResult:
    roots: list[tuple[Path, int]] = []
    for raw in paths:
        path = Path(raw)
        try:
            mode = path.stat().st_mode  # a path named on the command line is followed
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise CommandError(f"cannot read {raw}: {reason}") from None
        if stat.S_ISDIR(mode) and not os.access(path, os.R_OK | os.X_OK):
            raise CommandError(f"cannot read {raw}: permission denied")
        roots.append((path, mode))
    result = ScanResult()
    for path, mode in roots:
        if stat.S_ISDIR(mode):
            scan_tree(path, result)
        elif stat.S_ISREG(mode):
            scan_file(path, result)
        else:
            result.skipped.append((str(path), "not a regular file"))
    return result


def _statuses(findings: list[Finding], ids: set[str]) -> dict[str, str]:
    """Each found value's token status, or "Unknown". A checksum-valid value is only one of
    ours if its secret matches: a made-up value naming a real token id must not get that
    token disabled."""
    tokens = {
        t.public_id: t for t in ApiToken.objects.select_related("account").filter(public_id__in=ids)
    }
    status_of: dict[str, str] = {}
    for finding in findings:
        token = tokens.get(finding.token_id)
        known = token is not None and token_secrets.verify(
            finding.value, token.digest, settings.TOKEN_PEPPER
        )
        status_of[finding.value] = token.status if token is not None and known else "Unknown"
    return status_of


def _disable_live(findings: list[Finding], status_of: dict[str, str]) -> list[str]:
    """Disable every found token that is still Active; the ids disabled."""
    live = {f.token_id for f in findings if status_of[f.value] == TokenStatus.ACTIVE}
    disabled: list[str] = []
    for token_id in sorted(live):
        try:
            services.disable_token(token=token_id, actor=Actor.system())
        except InvalidTransition:
            continue  # changed meanwhile by someone else; nothing to do
        disabled.append(token_id)
    return disabled


class Command(ActionCommand):
    help = "Create, list, show, enable, disable and delete API tokens; scan files for values."

    def add_actions(self, subparsers: Any) -> None:
        create = subparsers.add_parser(
            "create",
            help="create a token and print its value once",
            description="Create an Active token (audited as System). The value is printed "
            "once and cannot be printed again by any command.",
        )
        create.add_argument("--account", required=True, metavar="ACC-…", help="account id")
        create.add_argument("--name", required=True, help="token name")
        create.add_argument("--description", default="", help="description")
        create.add_argument(
            "--module",
            nargs="+",
            action="extend",
            default=[],
            metavar="MOD-…",
            help="modules (enabled for the account) the token holds",
        )
        add_json_flag(create)

        listing = subparsers.add_parser("list", help="list tokens (never their values)")
        listing.add_argument("--account", metavar="ACC-…", help="only this account's tokens")
        listing.add_argument("--status", choices=TokenStatus.values, help="only this status")
        add_json_flag(listing)

        show = subparsers.add_parser("show", help="one token (never its value)")
        show.add_argument("token", metavar="TKN-…", help="token id")
        add_json_flag(show)

        for action, text in (
            ("enable", "Disabled -> Active"),
            ("disable", "Active -> Disabled"),
            ("delete", "Active or Disabled -> Deleted (cannot be undone)"),
        ):
            parser = subparsers.add_parser(
                action, help=f"{text}, audited as System", description=f"{text}."
            )
            parser.add_argument("token", metavar="TKN-…", help="token id")
            add_json_flag(parser)

        scan = subparsers.add_parser(
            "scan", help="find leaked token values in files", description=SCAN_HELP
        )
        scan.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
        scan.add_argument("--disable", action="store_true", help="disable Active tokens found")
        add_json_flag(scan)
        notify = subparsers.add_parser(
            "notify", help="send due expiry and rotation notices", description=NOTIFY_HELP
        )
        add_json_flag(notify)

    # --- create, list, show ---------------------------------------------------------------

    def handle_create(self, **options: Any) -> None:
        account = get_account(options["account"])
        created = services.create_token(
            account=account,
            name=options["name"],
            description=options["description"],
            modules=resolve_modules(options["module"]),
            actor=Actor.system(),
        )
        token = created.token
        data = {**token_json(token, FIELDS), "token": created.value}
        text = "\n".join(
            [
                f"Created API token {token.public_id} ({token.name}) in {account.public_id}.",
                "Its value, shown this once (it will not be shown again; store it now):",
                created.value,
            ]
        )
        self.emit(options, data, text)

    def handle_list(self, **options: Any) -> None:
        query = ApiToken.objects.select_related("account").prefetch_related("modules")
        if options["account"]:
            query = query.filter(account=get_account(options["account"]))
        if options["status"]:  # as shown: Expired is derived from the expiry
            query = in_status(query, options["status"])
        data, lines = [], []
        for token in query.order_by("account__name", "created_at", "pk").iterator(chunk_size=500):
            data.append(token_json(token, FIELDS))
            lines.append(
                f"{token.public_id}  {token.shown_status:<8}  {token.account.public_id}  {token.name}"
            )
        self.emit(options, data, "\n".join(lines) if lines else "No API tokens.")

    def handle_show(self, **options: Any) -> None:
        token = self._get(options["token"])
        modules = [f"  {m.public_id}  {m.name}" for m in token.modules.all()]
        text = "\n".join(
            [
                f"{token.public_id}  {token.name}",
                f"Status: {token.status}",
                f"Account: {token.account.public_id} ({token.account.name})",
                f"Description: {token.description or '—'}",
                f"Created: {token.created_at.isoformat()} by {token.created_by_name} "
                f"({token.created_by_id})",
                f"Updated: {token.updated_at.isoformat()} by {token.updated_by_name} "
                f"({token.updated_by_id})",
                "Last access: "
                + (token.last_access_at.isoformat() if token.last_access_at else "—"),
                "Modules:",
                *(modules or ["  (none)"]),
            ]
        )
        self.emit(options, token_json(token, FIELDS_FULL), text)

    def _get(self, public_id: str) -> ApiToken:
        token = ApiToken.objects.select_related("account").filter(public_id=public_id).first()
        if token is None:
            raise TokenNotFound(f"API token {public_id} was not found.")
        return token

    # --- lifecycle ------------------------------------------------------------------------

    def handle_enable(self, **options: Any) -> None:
        self._transition(options, TokenStatus.ACTIVE)

    def handle_disable(self, **options: Any) -> None:
        self._transition(options, TokenStatus.DISABLED)

    def handle_delete(self, **options: Any) -> None:
        self._transition(options, TokenStatus.DELETED)

    def _transition(self, options: dict[str, Any], to: TokenStatus) -> None:
        token = services.change_status(token=options["token"], to=to, actor=Actor.system())
        self.emit(
            options,
            token_json(token, FIELDS),
            f"API token {token.public_id} ({token.name}) is now {token.status}.",
        )

    # --- scan -----------------------------------------------------------------------------

    def handle_scan(self, **options: Any) -> None:
        result = scan_paths(options["paths"])
        for path, reason in result.skipped:
            self.stderr.write(f"skipped {path}: {reason}")
        ids = {f.token_id for f in result.findings}
        status_of = _statuses(result.findings, ids)
        disabled = _disable_live(result.findings, status_of) if options["disable"] else []
        rows = [
            {
                "file": f.path,
                "line": f.line,
                "tokenId": f.token_id,
                "masked": token_secrets.mask(f.token_id),
                "status": status_of[f.value],
                "disabled": f.token_id in disabled and status_of[f.value] != "Unknown",
            }
            for f in result.findings
        ]
        data = {
            "filesScanned": result.files,
            "findings": rows,
            "disabled": disabled,
            "skipped": [{"path": p, "reason": r} for p, r in result.skipped],
        }
        lines = [
            f"{r['file']}:{r['line']}  {r['tokenId']}  {r['status']}"
            + ("  -> disabled" if r["disabled"] else "")
            + f"  {r['masked']}"
            for r in rows
        ]
        summary = (
            f"Found {len(rows)} token value(s) of {len(ids)} token(s) in "
            f"{len({r['file'] for r in rows})} of {result.files} file(s) scanned"
            + (f"; disabled {len(disabled)}." if options["disable"] else ".")
            if rows
            else f"Clean: no token values found in {result.files} file(s) scanned."
        )
        self.emit(options, data, "\n".join([*lines, summary]))
        if rows:
            raise CommandError(f"{len(rows)} token value(s) found", returncode=1)

    # --- notify ---------------------------------------------------------------------------

    def handle_notify(self, **options: Any) -> None:
        outcome = notices.notify()
        self.emit(options, outcome.as_json(), "\n".join(outcome.lines()))
        if outcome.failed:
            notice, why = outcome.failed[0]
            raise CommandError(
                f"could not send the {notice.kind} notice of {notice.token.public_id} through "
                f"{notices.mail_server()}: {why}; it stays pending for the next run",
                returncode=1,
            )
