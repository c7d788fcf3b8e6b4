"""``manage.py audit export``: the public record shape, filters, CSV safety, no secrets, files
that are complete or absent, and memory that does not grow with the trail."""

from __future__ import annotations

import csv
import gc
import io
import json
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from audit import export
from audit.models import AuditRecord
from audit.recorder import record
from audit.types import Actor, ActorType, ObjectRef, RequestContext
from devtools.audit_seeding import seed_records
from tests.factories import TokenFactory

CREATED = "platform.accounts.api_token.created"
UPDATED = "platform.accounts.api_token.updated"
MARCH_1 = datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)


@contextmanager
def clock(moment: datetime, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: moment)
        yield


def write(
    monkeypatch: pytest.MonkeyPatch,
    *,
    at: datetime,
    account_id: str | None,
    event: str = UPDATED,
    **kwargs: Any,
) -> AuditRecord:
    kwargs.setdefault(
        "obj", ObjectRef(id="TKN-1111-2222", name="CRM robot", object_type="ApiToken")
    )
    kwargs.setdefault("actor", Actor.system())
    kwargs.setdefault("summary", "API token CRM robot updated")
    kwargs.setdefault("details", "Name: 'CRM' → 'CRM robot'.")
    with clock(at, monkeypatch), transaction.atomic():
        return record(event=event, account_id=account_id, **kwargs)


def run_export(*args: str) -> str:
    out = StringIO()
    call_command("audit", "export", *args, stdout=out)
    return out.getvalue()


def exported_ids(*args: str) -> list[str]:
    return [json.loads(line)["id"] for line in run_export(*args).splitlines()]


@pytest.fixture
def trail(acme, globex, monkeypatch) -> dict[str, AuditRecord]:
    """Records on both sides of midnight, for two accounts and the platform, two events."""
    return {
        "acme_feb": write(
            monkeypatch,
            at=datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC),
            account_id=acme.public_id,
            event=CREATED,
        ),
        "acme_mar": write(monkeypatch, at=MARCH_1, account_id=acme.public_id),
        "globex_mar": write(
            monkeypatch, at=datetime(2026, 3, 2, 0, 0, tzinfo=UTC), account_id=globex.public_id
        ),
        "platform_mar": write(monkeypatch, at=datetime(2026, 3, 3, tzinfo=UTC), account_id=None),
    }


def test_it_exports_json_lines_in_the_public_shape(acme, alice, monkeypatch):
    entry = write(
        monkeypatch,
        at=MARCH_1,
        account_id=acme.public_id,
        actor=Actor(
            id=alice.public_id,
            name="Alice Admin",
            type=ActorType.USER,
            account_id=acme.public_id,
            account_name="Acme",
        ),
        details="Name changed",
        documents={"changes": {"name": {"from": "CRM", "to": "CRM robot"}}},
        request=RequestContext(ip="203.0.113.7", user_agent="Firefox", trace_id="00-a-b-00"),
    )
    system = write(monkeypatch, at=MARCH_1 + timedelta(seconds=1), account_id=acme.public_id)

    first, second = (json.loads(line) for line in run_export().splitlines())

    assert first == {
        "id": entry.public_id,
        "event": UPDATED,
        "object": {"id": "TKN-1111-2222", "name": "CRM robot", "objectType": "ApiToken"},
        "actor": {
            "id": alice.public_id,
            "name": "Alice Admin",
            "type": "User",
            "account": {"id": acme.public_id, "name": "Acme"},
        },
        "timestamp": "2026-03-01T10:00:00.123Z",
        "summary": "API token CRM robot updated",
        "details": "Name changed",
        "request": {"ip": "203.0.113.7", "userAgent": "Firefox", "traceId": "00-a-b-00"},
        "documents": {"changes": {"name": {"from": "CRM", "to": "CRM robot"}}},
    }
    assert second["id"] == system.public_id
    assert second["actor"] == {"id": "SYSTEM", "name": "System", "type": "System", "account": None}
    assert second["timestamp"] == "2026-03-01T10:00:01.123Z"


def test_it_exports_csv_with_a_header_and_documents_as_json(trail, acme):
    text = run_export("--format", "csv")
    assert text.startswith(",".join(export.CSV_COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [row["id"] for row in rows] == [entry.public_id for entry in trail.values()]
    row = rows[1]
    assert row["event"] == UPDATED
    assert row["timestamp"] == "2026-03-01T10:00:00.123Z"
    assert (row["object.id"], row["object.objectType"]) == ("TKN-1111-2222", "ApiToken")
    assert (row["actor.id"], row["actor.type"], row["actor.account.id"]) == ("SYSTEM", "System", "")
    assert json.loads(row["documents"]) == {}


def test_it_neutralises_spreadsheet_formulas_in_csv_cells(acme, monkeypatch):
    write(
        monkeypatch,
        at=MARCH_1,
        account_id=acme.public_id,
        obj=ObjectRef(id="TKN-1111-2222", name="-2+3", object_type="ApiToken"),
        actor=Actor(id="USR-1111-2222", name="+cmd|' /C calc'!A0", type=ActorType.USER),
        summary='=HYPERLINK("http://evil.test","click")',
        details="@SUM(A1:A9)",
        documents={"note": "=1+1"},
        request=RequestContext(ip="203.0.113.7", user_agent="\tTabbed", trace_id="\rReturn"),
    )
    [row] = csv.DictReader(io.StringIO(run_export("--format", "csv"), newline=""))
    assert row["summary"] == '\'=HYPERLINK("http://evil.test","click")'
    assert row["details"] == "'@SUM(A1:A9)"
    assert row["object.name"] == "'-2+3"
    assert row["actor.name"] == "'+cmd|' /C calc'!A0"
    assert row["request.userAgent"] == "'\tTabbed"
    assert row["request.traceId"] == "'\rReturn"
    assert row["id"].startswith("AUD-")  # ordinary cells are left alone
    # JSON Lines is data for programs, not a sheet: written exactly as stored.
    [line] = run_export().splitlines()
    assert json.loads(line)["summary"] == '=HYPERLINK("http://evil.test","click")'


def test_it_filters_by_account(trail, acme, globex):
    assert exported_ids("--account", acme.public_id) == [
        trail["acme_feb"].public_id,
        trail["acme_mar"].public_id,
    ]
    assert exported_ids("--account", globex.public_id) == [trail["globex_mar"].public_id]
    assert exported_ids("--account", "ACC-0000-0000") == []


def test_it_filters_by_event(trail):
    assert exported_ids("--event", CREATED) == [trail["acme_feb"].public_id]
    assert len(exported_ids("--event", UPDATED)) == 3


def test_it_takes_since_inclusive_and_until_exclusive(trail):
    feb, mar, globex, platform = (entry.public_id for entry in trail.values())
    assert exported_ids("--since", "2026-03-01") == [mar, globex, platform]
    assert exported_ids("--until", "2026-03-01") == [feb]
    assert exported_ids("--since", "2026-03-01", "--until", "2026-03-02") == [mar]
    # Exactly at the instant: since includes it, until excludes it.
    assert exported_ids("--since", "2026-03-01T10:00:00.123456Z") == [mar, globex, platform]
    assert exported_ids("--until", "2026-03-01T10:00:00.123456Z") == [feb]


def test_it_reads_naive_times_as_utc_and_honours_offsets(trail):
    feb, mar, globex, _ = (entry.public_id for entry in trail.values())
    assert exported_ids("--since", "2026-03-01T10:00", "--until", "2026-03-02T00:00") == [mar]
    # 01:00 at +02:00 is 23:00 UTC the day before.
    assert exported_ids("--since", "2026-03-02T01:00+02:00", "--until", "2026-03-02T01:00") == [
        globex
    ]
    assert exported_ids("--until", "2026-03-01T01:00:00+01:00") == [feb]


def test_it_combines_filters(trail, acme):
    assert exported_ids(
        "--account", acme.public_id, "--event", UPDATED, "--since", "2026-02-01"
    ) == [trail["acme_mar"].public_id]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "since: 'yesterday' is not an ISO 8601 date or date-time"),
        (["--until", "2026-02-30"], "until: '2026-02-30' is not an ISO 8601 date or date-time"),
        (["--since", "2026-03-02", "--until", "2026-03-01"], "until: must be later than since"),
        (["--account", "acme"], "account: 'acme' is not an account id"),
    ],
)
def test_it_refuses_bad_filters_with_one_line(db, args, message):
    with pytest.raises(CommandError) as caught:
        run_export(*args)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_it_writes_the_output_file_whole_and_leaves_nothing_else(trail, tmp_path):
    target = tmp_path / "trail.jsonl"
    target.write_text("the previous export\n")
    summary = run_export("--output", str(target))
    assert summary.strip() == f"Exported 4 records to {target}"
    lines = target.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [e.public_id for e in trail.values()]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["trail.jsonl"]
    run_export("--format", "csv", "--output", str(tmp_path / "trail.csv"))
    assert (tmp_path / "trail.csv").read_bytes().count(b"\r\n") == 5
    assert run_export("--output", "-").count("\n") == 4


def test_it_leaves_no_partial_file_when_the_export_fails(trail, tmp_path, monkeypatch):
    target = tmp_path / "trail.jsonl"
    target.write_text("the previous export\n")
    real_public_dict = export.public_dict
    calls = iter(range(100))

    def failing_public_dict(entry: AuditRecord) -> dict[str, Any]:
        if next(calls) == 2:
            raise RuntimeError("database went away half-way")
        return real_public_dict(entry)

    monkeypatch.setattr(export, "public_dict", failing_public_dict)
    with pytest.raises(RuntimeError, match="half-way"):
        run_export("--output", str(target))
    assert target.read_text() == "the previous export\n"
    assert [path.name for path in tmp_path.iterdir()] == ["trail.jsonl"]


@pytest.mark.parametrize("where", ["missing-dir/trail.jsonl", "", "file.txt/trail.jsonl"])
def test_it_refuses_an_unwritable_output_with_one_line(trail, tmp_path, where):
    (tmp_path / "file.txt").write_text("a file, not a directory")
    target = tmp_path / where if where else tmp_path
    with pytest.raises(CommandError, match=r"^cannot write ") as caught:
        run_export("--output", str(target))
    assert "\n" not in str(caught.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file.txt"]


def test_it_never_exports_a_token_value_digest_or_ciphertext(acme):
    token = TokenFactory(account=acme, name="CRM robot", disabled=True)
    secret_part = token.plain_value.rsplit(":", 1)[1]
    assert AuditRecord.objects.filter(object_id=token.public_id).count() == 2
    for fmt in ("jsonl", "csv"):
        text = run_export("--format", fmt)
        assert token.public_id in text
        for secret in (token.plain_value, secret_part, token.digest, token.ciphertext):
            assert secret not in text, fmt


def test_it_releases_the_cursor_when_the_reader_stops_early(trail):
    # As a download does when the browser goes away: the generator is closed half-way.
    lines = export.stream(export.ExportFilter(), fmt="csv", chunk_size=2)
    assert next(lines).startswith("id,event,")
    assert next(lines).startswith(trail["acme_feb"].public_id)
    lines.close()
    assert AuditRecord.objects.count() == 4  # the connection is still usable


EXPORTED = 20_000


def peak_allocated(work: Any) -> int:
    """Peak bytes allocated through Python's allocator while ``work()`` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_it_exports_in_memory_that_does_not_grow_with_the_trail(acme, globex, tmp_path):
    # Not a timing test: it compares what the export allocates at its peak with what merely
    # holding the same records in a list allocates. A streaming export keeps one chunk of rows
    # (export.CHUNK_SIZE) alive; anything that materialises the query holds all 20,000.
    seed_records(count=EXPORTED, chains=[acme.public_id, globex.public_id])
    everything = export.ExportFilter()

    def materialise() -> None:
        assert len(list(export.selected(everything))) == EXPORTED

    def export_jsonl() -> None:
        run_export("--output", str(tmp_path / "trail.jsonl"))

    def export_csv() -> None:
        run_export("--format", "csv", "--output", str(tmp_path / "trail.csv"))

    listed = peak_allocated(materialise)
    jsonl = peak_allocated(export_jsonl)
    csv_peak = peak_allocated(export_csv)

    assert len((tmp_path / "trail.jsonl").read_text().splitlines()) == EXPORTED
    assert listed > 40_000_000, listed  # the yardstick really is big
    for peak in (jsonl, csv_peak):
        assert peak < listed / 5, (peak, listed)
        assert peak < 16_000_000, peak
