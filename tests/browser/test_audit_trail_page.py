"""The account's audit trail in a real browser (issue 15): every record fits the screen from
320 px to a large one, reads as an event name with its key and a diff of what changed, the
filters apply as they change, From after To says so next to the fields, and axe finds nothing
at all to complain about."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from accounts.models import Module
from apitokens import services
from apitokens.models import ApiToken
from audit.services import Editor, record_integration_event
from audit.types import Actor, ActorType, ObjectRef
from tests.browser.axe import violations
from tests.browser.conftest import World, sign_in
from tests.factories import TokenFactory

pytestmark = pytest.mark.browser

URL = "/settings/audit-trail/"
WIDTHS = [320, 375, 1440]


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def busy_account(world: World) -> ApiToken:
    """A token created, edited (name, a long description, modules) and disabled by alice,
    and an integration's record with a long key, a long name and a hash in its details."""
    alice = Actor(id=world.alice.public_id, name=world.alice.name, type=ActorType.USER)
    token = TokenFactory(account=world.acme, name="CRM robot", modules=["MOD-1756"], actor=alice)
    services.update_token(
        token=token,
        name="CRM robot 2",
        description="Synchronises every customer, contact and opportunity from Dynamics "
        "each night, then reconciles what changed in the platform since the last run.",
        modules=list(Module.objects.filter(public_id__in=["MOD-9042", "MOD-4525"])),
        actor=alice,
    )
    services.disable_token(token=token, actor=alice)
    with transaction.atomic():
        record_integration_event(
            event="extensions.dynamics-connector.customer_contact.synchronised",
            obj=ObjectRef(
                id="CRM-0000-1111-2222-3333-4444",
                name="Contoso Pharmaceuticals International Holdings",
                object_type="DynamicsCustomerContact",
            ),
            summary="Contact synchronised from Dynamics",
            details="Payload digest " + "3f9a" * 16 + " matched the previous run.",
            documents={},
            editor=Editor(actor=alice, account_id=world.acme.public_id, operations=False),
        )
    return token


def overflowing(page: Any) -> list[str]:
    """Every record card, every "View details" and everything inside a card that reaches past
    the viewport or past its card; and the document's own width."""
    return list(
        page.evaluate(
            """() => {
      const width = window.innerWidth, found = [];
      if (document.scrollingElement.scrollWidth > width)
        found.push('document ' + document.scrollingElement.scrollWidth + ' > ' + width);
      // What is clipped on purpose: the user agent (whole in its title), visually hidden text.
      const meant = el => el.closest('.ua, .visually-hidden');
      document.querySelectorAll('#audit-table tr[id^=record-]').forEach(row => {
        const card = row.getBoundingClientRect();
        if (card.left < 0 || card.right > width + 0.5)
          found.push(row.id + ' ' + card.left + '..' + card.right);
        row.querySelectorAll('*').forEach(el => {
          if (meant(el)) return;
          const box = el.getBoundingClientRect();
          if (box.width && (box.left < card.left - 0.5 || box.right > card.right + 0.5))
            found.push(row.id + ' ' + el.tagName + '.' + el.className + ' ' + box.right);
          if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible')
            found.push(row.id + ' clips ' + el.tagName + '.' + el.className);
        });
      });
      const wrap = document.getElementById('audit-table');
      if (wrap.scrollWidth > wrap.clientWidth + 1)
        found.push('table scrolls ' + wrap.scrollWidth + ' > ' + wrap.clientWidth);
      return found;
    }"""
        )
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_every_record_fits_the_screen(new_page: Any, world: World, width: int) -> None:
    token = busy_account(world)
    page = new_page(js=True, width=width)
    sign_in(page, world.alice.email)
    page.goto(URL)
    rows = page.locator("#audit-table tr[id^=record-]")
    expect(rows).to_have_count(5)  # the integration's, disabled, updated, created, signed in
    assert overflowing(page) == []
    for link in page.get_by_role("link", name="View details").all():
        box = link.bounding_box()
        assert box is not None
        assert box["x"] >= 0, box
        assert box["x"] + box["width"] <= width, box
        assert link.is_visible()

    # The event's name first, its key as well; the edit as old → new.
    updated = rows.filter(has_text="platform.accounts.api_token.updated")
    expect(updated.locator(".event-name")).to_have_text("API token updated")
    expect(updated.locator(".event-key")).to_have_text("platform.accounts.api_token.updated")
    diff = updated.locator("dl.diff")
    expect(diff).to_contain_text("CRM robot → CRM robot 2")
    expect(diff).to_contain_text("Added: Account Management (MOD-9042), Billing (MOD-4525)")
    expect(diff).to_contain_text("Removed: MOD-1756")
    disabled = rows.filter(has_text="platform.accounts.api_token.status_changed")
    expect(disabled.locator("dl.diff")).to_contain_text("Active → Disabled")
    expect(rows.filter(has_text="Signed in").locator(".event-key")).to_have_text(
        "platform.accounts.user.signed_in"
    )
    expect(page.locator(".row-info")).to_have_text("1–5 of 5 records")

    # The record dialog says it the same way, and fits too.
    updated.get_by_role("link", name="View details").click()
    dialog = page.locator("#dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name="API token updated")).to_be_visible()
    expect(dialog.locator("dl.diff")).to_contain_text("CRM robot → CRM robot 2")
    box = dialog.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= width
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    assert token.public_id in dialog.inner_text()


def test_filters_apply_as_they_change(new_page: Any, world: World) -> None:
    token = busy_account(world)
    page = new_page(js=True, width=375)
    sign_in(page, world.alice.email)
    page.goto(URL)
    rows = page.locator("#audit-table tr[id^=record-]")
    expect(rows).to_have_count(5)
    # Typed, not pasted, and no button pressed.
    page.get_by_label("Object ID").press_sequentially(token.public_id, delay=20)
    expect(rows).to_have_count(3)
    expect(page).to_have_url(
        f"{page.url.split('?')[0]}?event=&object={token.public_id}&actor=&from=&to="
    )
    page.get_by_label("Event").select_option(label="API token updated")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("API token updated")
    expect(page.locator(".row-info")).to_have_text("1–1 of 1 records")
    page.get_by_label("Object ID").fill("")
    page.get_by_label("Event").select_option(label="All events")
    expect(rows).to_have_count(5)


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_from_after_to_says_so_next_to_the_dates(new_page: Any, world: World, js: bool) -> None:
    busy_account(world)
    page = new_page(js=js, width=1440)
    sign_in(page, world.alice.email)
    page.goto(URL)
    page.get_by_label("From", exact=True).fill("2026-03-10")
    page.get_by_label("To", exact=True).fill("2026-03-01")
    if not js:
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name="Filter").click()
        assert navigation.value.status == 400
    error = page.locator("#audit-dates-error")
    expect(error).to_have_text("“From” must be on or before “To”.")
    expect(page.locator("#audit-table")).to_contain_text("Fix the dates to see records.")
    expect(page.locator("#audit-table tr[id^=record-]")).to_have_count(0)
    # Next to the fields: right under them, not somewhere else on the page.
    field = page.get_by_label("To", exact=True).bounding_box()
    message = error.bounding_box()
    assert field is not None
    assert message is not None
    assert 0 <= message["y"] - (field["y"] + field["height"]) < 40
    # Put right, the records are back and the message goes.
    page.get_by_label("To", exact=True).fill("2026-03-31")
    if not js:
        page.get_by_role("button", name="Filter").click()
    expect(error).to_have_text("")
    expect(page.locator("#audit-table")).not_to_contain_text("Fix the dates")


@pytest.mark.parametrize("width", [1440, 320])
def test_axe_finds_nothing_at_all(new_page: Any, world: World, width: int) -> None:
    busy_account(world)
    page = new_page(js=True, width=width)
    sign_in(page, world.alice.email)
    page.goto(URL)
    problems = violations(page, "audit trail")
    page.get_by_role("link", name="View details").nth(2).click()
    expect(page.locator("#dialog")).to_be_visible()
    page.wait_for_load_state("networkidle")
    problems += violations(page, "record dialog")
    page.keyboard.press("Escape")
    page.goto(f"{URL}?from=2026-03-10&to=2026-03-01")
    problems += violations(page, "audit trail with From after To")
    assert problems == []
