"""The account's audit trail page: columns, filters, keyset paging, the record dialog and the
streaming download, limited to the current account."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, Module, User
from apitokens import services
from audit import views
from audit.models import AuditRecord, EventType
from audit.types import Actor
from tests.factories import TokenFactory
from tests.ui.conftest import htmx, sign_in

URL = "/settings/audit-trail/"


def rows(body: str) -> list[str]:
    return re.findall(r'<tr id="record-(AUD-[\d-]+)"', body)


def test_it_shows_every_column_of_the_account_only(
    client: Client, alice: User, acme: Account, globex: Account
) -> None:
    mine = TokenFactory(account=acme, name="CRM robot")
    theirs = TokenFactory(account=globex, name="Globex secret project")
    sign_in(client, alice)
    response = client.get(URL)
    body = response.content.decode()
    assert response.status_code == 200
    for column in ("Date", "Object", "Object type", "Actor", "Tech details", "Summary", "Details"):
        assert f'<th scope="col">{column}</th>' in body
    assert mine.public_id in body
    assert "View details" in body
    assert theirs.public_id not in body
    assert "Globex secret project" not in body


def test_it_filters_by_event_object_actor_and_date(
    client: Client, alice: User, acme: Account
) -> None:
    one = TokenFactory(account=acme, name="One")
    two = TokenFactory(account=acme, name="Two")
    actor = Actor(id=alice.public_id, name=alice.name, type="User")
    services.disable_token(token=two, actor=actor)
    sign_in(client, alice)
    by_object = client.get(URL, {"object": one.public_id}).content.decode()
    assert set(rows(by_object)) == set(
        AuditRecord.objects.filter(object_id=one.public_id).values_list("public_id", flat=True)
    )
    by_event = client.get(
        URL, {"event": "platform.accounts.api_token.status_changed"}
    ).content.decode()
    assert len(rows(by_event)) == 1
    assert two.public_id in by_event
    by_actor = client.get(URL, {"actor": alice.public_id}).content.decode()
    assert len(rows(by_actor)) == 1
    today = AuditRecord.objects.latest("id").timestamp.date().isoformat()
    assert len(rows(client.get(URL, {"from": today, "to": today}).content.decode())) >= 3
    assert rows(client.get(URL, {"to": "2000-01-01"}).content.decode()) == []
    bad = client.get(URL, {"from": "yesterday"})
    assert bad.status_code == 400
    assert "Enter “From” as a date like 2026-11-22." in bad.content.decode()


def test_it_pages_by_keyset_both_ways(client: Client, alice: User, acme: Account) -> None:
    token = TokenFactory(account=acme)
    for _ in range(14):  # 1 created + 28 status changes = 29 records
        services.disable_token(token=token, actor=Actor.system())
        services.enable_token(token=token, actor=Actor.system())
    sign_in(client, alice)
    first = client.get(URL).content.decode()
    newest = rows(first)
    assert len(newest) == 25
    older = re.search(r'href="(\?[^"]*after=[^"]+)"[^>]*rel="next"', first)
    assert older is not None
    second = client.get(URL + older.group(1).replace("&amp;", "&")).content.decode()
    assert len(rows(second)) == 4
    assert not set(rows(second)) & set(newest)
    newer = re.search(r'href="(\?[^"]*before=[^"]+)"[^>]*rel="prev"', second)
    assert newer is not None
    back = client.get(URL + newer.group(1).replace("&amp;", "&")).content.decode()
    assert rows(back) == newest
    ordered = list(
        AuditRecord.objects.filter(account_id=acme.public_id)
        .order_by("-timestamp", "-id")
        .values_list("public_id", flat=True)
    )
    assert newest + rows(second) == ordered


def test_deep_pages_cost_the_same_queries(client: Client, alice: User, acme: Account) -> None:
    token = TokenFactory(account=acme)
    for _ in range(30):
        services.disable_token(token=token, actor=Actor.system())
        services.enable_token(token=token, actor=Actor.system())
    sign_in(client, alice)
    client.get(URL)
    with CaptureQueriesContext(connection) as first:
        page = client.get(URL).content.decode()
    cursor = re.search(r'href="(\?[^"]*after=[^"]+)"', page)
    assert cursor is not None
    with CaptureQueriesContext(connection) as deeper:
        client.get(URL + cursor.group(1).replace("&amp;", "&"))
    assert len(deeper) == len(first)
    assert not any("OFFSET" in q["sql"].upper() for q in deeper.captured_queries)


def test_it_answers_htmx_with_only_the_table(client: Client, alice: User, acme: Account) -> None:
    TokenFactory(account=acme)
    sign_in(client, alice)
    response = client.get(URL, **htmx(HX_Target="audit-table"))
    body = response.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="audit-table"')
    assert body.count('id="audit-table"') == 1


def test_view_details_shows_the_documents_as_json(
    client: Client, alice: User, acme: Account, globex: Account
) -> None:
    token = TokenFactory(account=acme, name="CRM robot", modules=["MOD-1756"])
    entry = AuditRecord.objects.get(object_id=token.public_id)
    sign_in(client, alice)
    dialog = client.get(f"{URL}{entry.public_id}/", **htmx())
    body = dialog.content.decode()
    assert "<html" not in body
    assert "Documents" in body
    assert "&quot;name&quot;: &quot;CRM robot&quot;" in body
    assert token.plain_value not in body
    other = TokenFactory(account=globex)
    foreign = AuditRecord.objects.get(object_id=other.public_id)
    assert client.get(f"{URL}{foreign.public_id}/").status_code == 404


def test_a_record_without_javascript_is_a_page_with_its_own_h1(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, name="CRM robot")
    entry = AuditRecord.objects.get(object_id=token.public_id)
    sign_in(client, alice)
    page = client.get(f"{URL}{entry.public_id}/").content.decode()
    assert '<h1 id="dialog-title">' in page
    assert "<h2>Documents</h2>" in page
    fragment = client.get(f"{URL}{entry.public_id}/", **htmx()).content.decode()
    assert '<h2 id="dialog-title">' in fragment
    assert "<h3>Documents</h3>" in fragment


def test_it_downloads_the_filtered_records_as_csv_and_jsonl(
    client: Client, alice: User, acme: Account, globex: Account
) -> None:
    one = TokenFactory(account=acme, name="One")
    TokenFactory(account=acme, name="Two")
    TokenFactory(account=globex, name="Globex secret project")
    sign_in(client, alice)
    response = client.get(f"{URL}download/", {"format": "csv", "object": one.public_id})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    table = list(csv.DictReader(io.StringIO(text)))
    assert [r["object.id"] for r in table] == [one.public_id]
    lines = client.get(f"{URL}download/", {"format": "jsonl"})
    records = [json.loads(line) for line in b"".join(lines.streaming_content).splitlines()]
    assert len(records) == AuditRecord.objects.filter(account_id=acme.public_id).count()
    assert "Globex secret project" not in json.dumps(records)
    assert client.get(f"{URL}download/", {"format": "xml"}).status_code == 404


def test_details_show_on_the_page_the_token_tab_and_the_record_dialog(
    client: Client, alice: User, acme: Account
) -> None:
    # Issue 13 item 2: the Details column showed "—" on every row.
    token = TokenFactory(account=acme, name="CRM robot")
    services.update_token(token=token, name="CRM robot 2", actor=Actor.system())
    entry = AuditRecord.objects.get(event_key=services.EVENT_UPDATED)
    shown = "Name: &#x27;CRM robot&#x27; → &#x27;CRM robot 2&#x27;, by System (SYSTEM)."
    sign_in(client, alice)
    page = client.get(URL).content.decode()
    # The account's trail shows the edit as a diff (issue 15); the token's tab as text.
    assert '<dt>Name</dt>\n    <dd><span class="diff-old">CRM robot</span>' in page
    tab = client.get(f"/settings/api-tokens/{token.public_id}/audit/").content.decode()
    assert f'<td data-label="Details">{shown}</td>' in tab
    dialog = client.get(f"{URL}{entry.public_id}/", **htmx()).content.decode()
    assert f"<dt>Details</dt><dd>{shown}</dd>" in dialog


# --- Issue 15: the page survives real use ------------------------------------------------------


def test_from_after_to_is_a_400_with_the_error_next_to_the_dates(
    client: Client, alice: User, acme: Account
) -> None:
    TokenFactory(account=acme, name="CRM robot")
    sign_in(client, alice)
    page = client.get(URL, {"from": "2026-03-10", "to": "2026-03-01"})
    body = page.content.decode()
    assert page.status_code == 400
    form = body.split('role="search"', 1)[1].split("</form>", 1)[0]
    assert "“From” must be on or before “To”." in form
    assert 'id="audit-from" type="date" name="from" value="2026-03-10"' in form
    assert form.count('aria-invalid="true"') == 2
    assert rows(body) == []
    assert "Fix the dates to see records." in body
    # The htmx partial says it too, out of band into the slot next to the fields.
    partial = client.get(
        URL, {"from": "2026-03-10", "to": "2026-03-01"}, **htmx(HX_Target="audit-table")
    )
    text = partial.content.decode()
    assert partial.status_code == 400
    assert re.search(
        r'<p [^>]*id="audit-dates-error"[^>]*hx-swap-oob="innerHTML"[^>]*>'
        r"“From” must be on or before “To”.</p>",
        text,
    )
    assert rows(text) == []
    # Fixed dates empty the slot again.
    fixed = client.get(URL, {"from": "2026-03-01"}, **htmx(HX_Target="audit-table"))
    assert fixed.status_code == 200
    assert re.search(
        r'id="audit-dates-error"[^>]*hx-swap-oob="innerHTML"[^>]*></p>', fixed.content.decode()
    )
    # The same day on both sides is a range of one day, not an error.
    assert client.get(URL, {"from": "2026-03-01", "to": "2026-03-01"}).status_code == 200


def test_a_date_that_is_no_date_is_a_400_too(client: Client, alice: User, acme: Account) -> None:
    TokenFactory(account=acme)
    sign_in(client, alice)
    response = client.get(URL, {"to": "2026-13-45"})
    assert response.status_code == 400
    assert "Enter “To” as a date like 2026-11-22." in response.content.decode()


def position(body: str) -> str:
    found = re.search(r'<p class="row-info"[^>]*>(.*?)</p>', body, re.S)
    assert found is not None
    return " ".join(found.group(1).split())


def test_paging_says_where_the_page_is_and_of_how_many(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme)
    for _ in range(14):  # 1 created + 28 status changes = 29 records
        services.disable_token(token=token, actor=Actor.system())
        services.enable_token(token=token, actor=Actor.system())
    sign_in(client, alice)
    first = client.get(URL).content.decode()
    assert position(first) == "1–25 of 29 records"
    older = re.search(r'href="(\?[^"]*after=[^"]+)"[^>]*rel="next"', first)
    assert older is not None
    second = client.get(URL + older.group(1).replace("&amp;", "&")).content.decode()
    assert position(second) == "26–29 of 29 records"
    newer = re.search(r'href="(\?[^"]*before=[^"]+)"[^>]*rel="prev"', second)
    assert newer is not None
    back = client.get(URL + newer.group(1).replace("&amp;", "&")).content.decode()
    assert position(back) == "1–25 of 29 records"
    assert position(client.get(URL, {"object": "TKN-0000-0000"}).content.decode()) == "0 records"


def test_the_count_stops_at_its_cap(
    client: Client, alice: User, acme: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A million records in one account: the page counts at most COUNT_CAP + 1 of them.
    monkeypatch.setattr(views, "COUNT_CAP", 10)
    monkeypatch.setattr(views, "PER_PAGE", 4)
    token = TokenFactory(account=acme)
    for _ in range(10):  # 21 records
        services.disable_token(token=token, actor=Actor.system())
        services.enable_token(token=token, actor=Actor.system())
    sign_in(client, alice)
    with CaptureQueriesContext(connection) as captured:
        body = client.get(URL).content.decode()
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1
    assert "LIMIT 11" in counts[0]
    seen = []
    while True:
        seen.append(position(body))
        older = re.search(r'href="(\?[^"]*after=[^"]+)"[^>]*rel="next"', body)
        if older is None:
            break
        body = client.get(URL + older.group(1).replace("&amp;", "&")).content.decode()
    assert seen == [
        "1–4 of 10+ records",
        "5–8 of 10+ records",
        "4 records past the newest 10",
        "4 records past the newest 10",
        "4 records past the newest 10",
        "1 record past the newest 10",
    ]


def test_each_row_names_its_event_in_words_and_shows_its_key(
    client: Client, alice: User, acme: Account
) -> None:
    TokenFactory(account=acme, name="CRM robot")
    sign_in(client, alice)
    body = client.get(URL).content.decode()
    assert '<span class="event-name">API token created</span>' in body
    assert "platform.<wbr>accounts.<wbr>api_token.<wbr>created" in body
    assert ">API token created</option>" in body
    # An event type someone named keeps its name.
    EventType.objects.filter(key="platform.accounts.api_token.created").update(name="Robot hired")
    body = client.get(URL).content.decode()
    assert '<span class="event-name">Robot hired</span>' in body
    assert ">Robot hired</option>" in body


def test_an_edit_reads_as_a_diff_on_the_page_and_in_the_dialog(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, name="CRM robot", modules=["MOD-1756"])
    services.update_token(
        token=token,
        name="CRM robot 2",
        description="Nightly sync",
        modules=list(Module.objects.filter(public_id__in=["MOD-4525"])),
        actor=Actor.system(),
    )
    entry = AuditRecord.objects.get(event_key=services.EVENT_UPDATED)
    sign_in(client, alice)
    page = client.get(URL).content.decode()
    dialog = client.get(f"{URL}{entry.public_id}/", **htmx()).content.decode()
    for body in (page, dialog):
        diff = body.split('<dl class="diff">', 1)[1].split("</dl>", 1)[0]
        text = " ".join(re.sub(r"<[^>]+>", " ", diff).split())
        assert "Name CRM robot → CRM robot 2" in text
        assert "Description (empty) → Nightly sync" in text
        assert "Modules Added: Billing (MOD-4525) Removed: MOD-1756" in text
    assert token.plain_value not in page + dialog


def test_the_page_has_the_width_of_the_other_pages(
    client: Client, alice: User, acme: Account
) -> None:
    sign_in(client, alice)
    assert '<main id="main" tabindex="-1">' in client.get(URL).content.decode()
