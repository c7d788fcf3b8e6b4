"""Streaming export of the audit trail as JSON Lines or CSV (SPEC section 6).

Everything here is a generator over one ``.iterator()`` query, so exporting millions of records
holds one chunk of rows in memory, never the result set. ``stream(build_filter(...), fmt=...)``
is the entry point: ``manage.py audit export`` writes its lines to a file or stdout, and the
download on the audit trail page can hand it straight to a ``StreamingHttpResponse`` (which
closes it, releasing the cursor, when the client goes away). Nothing here knows about argv.

Order is ``(timestamp, id)``: chronological across chains, which is what a reader or a SIEM
expects, and the order of the ``audit_time``/``audit_account_time`` indexes, so the database
walks an index instead of sorting millions of rows. (Chain order, ``(chain, seq)``, is what
``audit verify`` walks; the export is for reading, not for checking links.)

CSV cells that a spreadsheet would run as a formula (starting with ``= + - @``, tab or carriage
return) get a leading apostrophe (OWASP "CSV injection"). JSON Lines is data, not a sheet, so it
is written exactly as stored.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet

from audit.models import AuditRecord
from tokens_admin.errors import ValidationFailed

CHUNK_SIZE = 1000
ACCOUNT_RE = re.compile(r"ACC-\d{4}-\d{4}")
CSV_COLUMNS = (
    "id",
    "event",
    "timestamp",
    "object.id",
    "object.name",
    "object.objectType",
    "actor.id",
    "actor.name",
    "actor.type",
    "actor.account.id",
    "actor.account.name",
    "summary",
    "details",
    "request.ip",
    "request.userAgent",
    "request.traceId",
    "documents",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Which records to export; ``since`` is inclusive and ``until`` exclusive."""

    account: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    event: str | None = None


def parse_instant(text: str, *, field: str) -> datetime:
    """An ISO 8601 date or date-time; naive means UTC, a bare date means its midnight (UTC).

    Raises ``ValidationFailed`` naming ``field`` for anything else.
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed(
            {field: [f"{text!r} is not an ISO 8601 date or date-time (e.g. 2026-11-22T10:00Z)."]}
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def build_filter(
    *,
    account: str | None = None,
    since: str | None = None,
    until: str | None = None,
    event: str | None = None,
) -> ExportFilter:
    """Validate raw filter values (from argv or a query string) into an ``ExportFilter``."""
    errors: dict[str, list[str]] = {}
    if account is not None and not ACCOUNT_RE.fullmatch(account):
        errors["account"] = [f"{account!r} is not an account id (ACC-NNNN-NNNN)."]
    parsed: dict[str, datetime | None] = {"since": None, "until": None}
    for field, value in (("since", since), ("until", until)):
        if value is not None:
            try:
                parsed[field] = parse_instant(value, field=field)
            except ValidationFailed as exc:
                errors.update(exc.errors)
    start, end = parsed["since"], parsed["until"]
    if start is not None and end is not None and end <= start:
        errors["until"] = ["must be later than since."]
    if event is not None and not event.strip():
        errors["event"] = ["must not be empty."]
    if errors:
        raise ValidationFailed(errors)
    return ExportFilter(account=account, since=start, until=end, event=event)


def selected(filters: ExportFilter) -> QuerySet[AuditRecord]:
    query = AuditRecord.objects.all()
    if filters.account is not None:
        query = query.filter(account_id=filters.account)
    if filters.since is not None:
        query = query.filter(timestamp__gte=filters.since)
    if filters.until is not None:
        query = query.filter(timestamp__lt=filters.until)
    if filters.event is not None:
        query = query.filter(event_key=filters.event)
    # Hashes are for `audit verify`; the event row is not needed (event_key is on the record).
    return query.defer("prev_hash", "hash").order_by("timestamp", "id")


def records(filters: ExportFilter, *, chunk_size: int = CHUNK_SIZE) -> Iterator[AuditRecord]:
    """The selected records, oldest first, fetched ``chunk_size`` rows at a time."""
    return selected(filters).iterator(chunk_size=chunk_size)


def timestamp_text(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``, as everywhere in the public API."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def public_dict(record: AuditRecord) -> dict[str, Any]:
    """The record as the public API shows it (SPEC section 6)."""
    account = (
        {"id": record.actor_account_id, "name": record.actor_account_name}
        if record.actor_account_id
        else None
    )
    return {
        "id": record.public_id,
        "event": record.event_key,
        "object": {
            "id": record.object_id,
            "name": record.object_name,
            "objectType": record.object_type,
        },
        "actor": {
            "id": record.actor_id,
            "name": record.actor_name,
            "type": record.actor_type,
            "account": account,
        },
        "timestamp": timestamp_text(record.timestamp),
        "summary": record.summary,
        "details": record.details,
        "request": {
            "ip": record.request_ip,
            "userAgent": record.request_user_agent,
            "traceId": record.trace_id,
        },
        "documents": record.documents,
    }


def csv_safe(cell: str) -> str:
    """Neutralise a cell a spreadsheet would evaluate as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_row(record: AuditRecord) -> list[str]:
    """One CSV row in ``CSV_COLUMNS`` order; documents as a JSON string."""
    cells = [
        record.public_id,
        record.event_key,
        timestamp_text(record.timestamp),
        record.object_id,
        record.object_name,
        record.object_type,
        record.actor_id,
        record.actor_name,
        record.actor_type,
        record.actor_account_id,
        record.actor_account_name,
        record.summary,
        record.details,
        record.request_ip,
        record.request_user_agent,
        record.trace_id,
        json.dumps(record.documents, ensure_ascii=False, sort_keys=True),
    ]
    return [csv_safe(cell) for cell in cells]


def jsonl_lines(rows: Iterable[AuditRecord]) -> Iterator[str]:
    """One JSON object per line, each ending in ``\\n``."""
    for record in rows:
        yield json.dumps(public_dict(record), ensure_ascii=False) + "\n"


class _Line:
    """A write-only "file" that hands back what ``csv.writer`` writes to it."""

    def write(self, text: str) -> str:
        return text


def csv_lines(rows: Iterable[AuditRecord]) -> Iterator[str]:
    """A header line, then one line per record (RFC 4180, CRLF line ends)."""
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for record in rows:
        yield writer.writerow(csv_row(record))


FORMATS: dict[str, Callable[[Iterable[AuditRecord]], Iterator[str]]] = {
    "jsonl": jsonl_lines,
    "csv": csv_lines,
}


def stream(filters: ExportFilter, *, fmt: str, chunk_size: int = CHUNK_SIZE) -> Generator[str]:
    """The export as lines of text (``fmt`` is a key of ``FORMATS``), ready to write or serve.

    Close it if you stop early (``contextlib.closing``; ``StreamingHttpResponse`` does): the
    database cursor is released and the read transaction ended as it closes.
    """
    lines = FORMATS[fmt]
    with read_transaction():
        rows = records(filters, chunk_size=chunk_size)
        try:
            yield from lines(rows)
        finally:
            # Release the cursor while its transaction is still open. Left to the garbage
            # collector (an exception's traceback can keep it alive), PostgreSQL would be asked
            # to close a cursor its rolled-back transaction already dropped.
            if isinstance(rows, Generator):
                rows.close()


@contextmanager
def read_transaction() -> Iterator[None]:
    """One transaction around the walk on PostgreSQL, none on SQLite.

    On PostgreSQL ``.iterator()`` uses a server-side cursor; outside a transaction Django
    declares it ``WITH HOLD``, which PostgreSQL materialises in full when the implicit
    transaction commits. Inside one it streams. Not on SQLite: our transactions begin
    IMMEDIATE (they take the write lock), and one SELECT already reads one snapshot there.
    """
    if connection.vendor == "postgresql":
        with transaction.atomic():
            yield
    else:
        yield
