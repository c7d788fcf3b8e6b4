"""The account's audit trail page, the record dialog and the streaming download.

Paging is keyset paging on ``(timestamp, id)``, the order of the ``audit_account_time`` index,
so page 10,000 costs what page 1 costs (an OFFSET would walk every skipped row). The cursor
is the last (or first) row's ``timestamp`` and ``id`` in the query string.

``audit`` imports nothing from the other apps: who may look, and at which account, is decided
by the access check the URL configuration hands each page (``require_admin``, an extra
argument of the route; without it the page cannot run at all). The page sees only what
``Viewer`` names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, Protocol

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from audit import display, export
from audit.models import AuditRecord, EventType
from tokens_admin.requests import AppRequest
from tokens_admin.ui import query_with, search_text

PER_PAGE: Final = 25
# The page counts at most this many records (plus one, to know there are more).
COUNT_CAP: Final = 10_000


class ViewedAccount(Protocol):
    @property
    def public_id(self) -> str: ...

    @property
    def name(self) -> str: ...


class Viewer(Protocol):
    """Who looks, as far as the trail cares: the account whose records they may see."""

    @property
    def account(self) -> ViewedAccount: ...


# Refuses the request (PermissionDenied) or answers who looks.
AccessCheck = Callable[[AppRequest], Viewer]


def _day(value: str) -> date | None:
    """A date like 2026-11-22, or None (``parse_date`` raises on 2026-13-45)."""
    try:
        return parse_date(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Filters:
    event: str
    object: str
    actor: str
    date_from: str
    date_to: str
    # By field ("from", "to"), and "range" for a From after To: each makes the page a 400
    # that shows no records, rather than a list that is silently empty or silently unfiltered.
    errors: dict[str, str]

    @classmethod
    def from_query(cls, request: HttpRequest) -> Filters:
        errors: dict[str, str] = {}
        date_from = request.GET.get("from", "").strip()
        date_to = request.GET.get("to", "").strip()
        for key, label, value in (("from", "From", date_from), ("to", "To", date_to)):
            if value and _day(value) is None:
                errors[key] = f"Enter “{label}” as a date like 2026-11-22."
        start, end = _day(date_from), _day(date_to)
        if start is not None and end is not None and start > end:
            errors["range"] = "“From” must be on or before “To”."
        return cls(
            event=search_text(request, "event", 200),
            object=search_text(request, "object", 32),
            actor=search_text(request, "actor", 32),
            # Shown back as typed (a date input shows nothing for what is no date), bounded.
            date_from=date_from[:32],
            date_to=date_to[:32],
            errors=errors,
        )

    @property
    def dates_error(self) -> str:
        return " ".join(self.errors[key] for key in ("from", "to", "range") if key in self.errors)

    @property
    def from_invalid(self) -> bool:
        return "from" in self.errors or "range" in self.errors

    @property
    def to_invalid(self) -> bool:
        return "to" in self.errors or "range" in self.errors

    def apply(self, records: QuerySet[AuditRecord]) -> QuerySet[AuditRecord]:
        if self.event:
            records = records.filter(event_key=self.event)
        if self.object:
            records = records.filter(object_id=self.object)
        if self.actor:
            records = records.filter(actor_id=self.actor)
        zone = timezone.get_current_timezone()
        if self.date_from and (start := _day(self.date_from)) and start > date.min:
            records = records.filter(
                timestamp__gte=datetime.combine(start, datetime.min.time(), tzinfo=zone)
            )
        if self.date_to and (end := _day(self.date_to)) and end < date.max:
            records = records.filter(
                timestamp__lt=datetime.combine(
                    end + timedelta(days=1), datetime.min.time(), tzinfo=zone
                )
            )
        return records


def account_records(account_public_id: str) -> QuerySet[AuditRecord]:
    return AuditRecord.objects.filter(account_id=account_public_id).defer("prev_hash", "hash")


def _cursor(raw: str) -> tuple[datetime, int] | None:
    stamp, _, pk = raw.rpartition("_")
    moment = parse_datetime(stamp)
    if moment is None or not pk.isdigit():
        return None
    return moment, int(pk)


def _cursor_of(entry: AuditRecord) -> str:
    return f"{entry.timestamp.isoformat()}_{entry.pk}"


@dataclass(frozen=True)
class Position:
    """Where a page sits: "26-50 of 1,234 records" (with an en dash). Counting stops after ``COUNT_CAP`` rows,
    so a million records cost what 10,001 cost: past that, the total reads "10,000+", and a
    page further down than the cap says only that it is past it."""

    newer: int  # rows before this page, at most COUNT_CAP + 1
    shown: int
    total: int  # at most COUNT_CAP + 1
    cap: int

    @property
    def label(self) -> str:
        if not self.total:
            return "0 records"
        if self.newer + self.shown > self.cap:
            noun = "record" if self.shown == 1 else "records"
            return f"{self.shown:,} {noun} past the newest {self.cap:,}"
        total = f"{self.cap:,}+" if self.total > self.cap else f"{self.total:,}"
        return f"{self.newer + 1:,}\N{EN DASH}{self.newer + self.shown:,} of {total} records"


def _position(records: QuerySet[AuditRecord], rows: list[AuditRecord]) -> Position:
    """One query over the newest ``COUNT_CAP + 1`` matching rows (the index's order): how
    many there are, and how many of them are newer than this page's first row."""
    newest = records.order_by("-timestamp", "-id").values("id", "timestamp")[: COUNT_CAP + 1]
    if not rows:
        return Position(newer=0, shown=0, total=newest.count(), cap=COUNT_CAP)
    first = rows[0]
    newer = Q(timestamp__gt=first.timestamp) | Q(timestamp=first.timestamp, id__gt=first.pk)
    counted = newest.aggregate(total=Count("id"), newer=Count("id", filter=newer))
    return Position(newer=counted["newer"], shown=len(rows), total=counted["total"], cap=COUNT_CAP)


def _window(
    records: QuerySet[AuditRecord],
    *,
    after: tuple[datetime, int] | None,
    before: tuple[datetime, int] | None,
) -> tuple[list[AuditRecord], bool, bool]:
    """One page of records, newest first, after or before a cursor; and whether there are
    newer and older ones."""
    if before is not None:
        moment, pk = before
        window = list(
            records.filter(Q(timestamp__gt=moment) | Q(timestamp=moment, pk__gt=pk)).order_by(
                "timestamp", "id"
            )[: PER_PAGE + 1]
        )
        return list(reversed(window[:PER_PAGE])), len(window) > PER_PAGE, True
    page = records
    if after is not None:
        moment, pk = after
        page = records.filter(Q(timestamp__lt=moment) | Q(timestamp=moment, pk__lt=pk))
    window = list(page.order_by("-timestamp", "-id")[: PER_PAGE + 1])
    return window[:PER_PAGE], after is not None, len(window) > PER_PAGE


@login_required
@require_GET
@vary_on_headers("HX-Request")
def audit_list(request: AppRequest, require_admin: AccessCheck) -> HttpResponse:
    access = require_admin(request)
    filters = Filters.from_query(request)
    records = filters.apply(account_records(access.account.public_id))
    rows: list[AuditRecord] = []
    has_newer = has_older = False
    position = None
    if not filters.errors:  # else nothing to show until the dates make sense
        rows, has_newer, has_older = _window(
            records,
            after=_cursor(request.GET.get("after", "")),
            before=_cursor(request.GET.get("before", "")),
        )
    if not filters.errors:
        position = _position(records, rows)
    names = dict(EventType.objects.order_by("key").values_list("key", "name"))
    context: dict[str, Any] = {
        "access": access,
        "entries": display.shown(rows, names),
        "filters": filters,
        "position": position,
        "event_types": display.event_choices(names),
        "newest_url": query_with(request, after=None, before=None),
        "older_url": query_with(request, after=_cursor_of(rows[-1]), before=None)
        if rows and has_older
        else "",
        "newer_url": query_with(request, before=_cursor_of(rows[0]), after=None)
        if rows and has_newer
        else "",
        "csv_url": "download/" + query_with(request, after=None, before=None, format="csv"),
        "jsonl_url": "download/" + query_with(request, after=None, before=None, format="jsonl"),
    }
    template = "audit/list.html"
    if request.htmx and request.headers.get("HX-Target") == "audit-table":
        template += "#table"
        # The date errors sit next to the fields, outside the table: sent out of band.
        context["oob"] = True
    return render(request, template, context, status=400 if filters.errors else 200)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def audit_record(request: AppRequest, public_id: str, require_admin: AccessCheck) -> HttpResponse:
    """ "View details": the whole record, its documents as formatted JSON."""
    access = require_admin(request)
    entry = (
        account_records(access.account.public_id)
        .select_related("event")
        .filter(public_id=public_id)
        .first()
    )
    if entry is None:
        raise Http404("No such audit record.")
    full = export.public_dict(entry)
    context = {
        "access": access,
        "record": entry,
        "event": display.event_label(entry.event_key, entry.event.name),
        "event_description": entry.event.description,
        "changes": display.changes_of(entry.documents),
        "documents_json": json.dumps(entry.documents, indent=2, ensure_ascii=False, sort_keys=True),
        "record_json": json.dumps(full, indent=2, ensure_ascii=False),
    }
    template = "audit/record.html"
    if request.htmx:
        template += "#dialog"
    return render(request, template, context)


@login_required
@require_GET
def audit_download(request: AppRequest, require_admin: AccessCheck) -> HttpResponseBase:
    """The filtered records as CSV or JSON Lines, streamed oldest first."""
    access = require_admin(request)
    fmt = request.GET.get("format", "csv")
    if fmt not in export.FORMATS:
        raise Http404("Unknown format.")
    filters = Filters.from_query(request)
    records = filters.apply(account_records(access.account.public_id)).order_by("timestamp", "id")
    lines = export.FORMATS[fmt]

    def stream() -> Iterator[str]:
        with export.read_transaction():
            yield from lines(records.iterator(chunk_size=export.CHUNK_SIZE))

    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response = StreamingHttpResponse(
        stream(),
        content_type="text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{access.account.public_id}-{stamp}.{fmt}"'
    )
    response["Cache-Control"] = "no-store"
    return response
