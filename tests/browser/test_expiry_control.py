"""The Expiration control in a real browser (issue 16): without JavaScript "Custom date" shows
the date field (CSS only), the chosen day reaches the Overview, the Summary and the details
page; with JavaScript the Edit dialog moves the expiry; axe finds nothing of any impact on the
control's states, at 1440 and 320 px."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from typing import Any

import pytest
from django.utils import timezone

from apitokens.models import ApiToken
from tests.browser.axe import block_page_scripts, violations
from tests.browser.conftest import World, sign_in
from tests.browser.test_wizard_real_use import heading, no_page_overflow
from tests.factories import TokenFactory

pytestmark = pytest.mark.browser

ADD = "/settings/api-tokens/add/"


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.mark.parametrize("width", [1440, 320])
def test_a_custom_day_without_javascript_reaches_every_page(
    new_page: Any, world: World, width: int
) -> None:
    page = new_page(js=False, width=width)
    sign_in(page, world.alice.email)
    page.goto(ADD)
    expiration = page.get_by_label("Expiration")
    expect(expiration).to_have_value("30")
    day_field = page.get_by_label("Expires on")
    expect(day_field).to_be_hidden()
    expiration.select_option("custom")
    expect(day_field).to_be_visible()
    assert no_page_overflow(page)
    day = timezone.now().astimezone(UTC).date() + timedelta(days=9)
    day_field.fill(day.isoformat())
    page.get_by_placeholder("Enter API token name").fill("Dated robot")
    page.get_by_role("button", name="Next").click()
    expect(heading(page, "Modules")).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(heading(page, "Overview")).to_be_visible()
    shown = page.locator(".overview dt:has-text('Expires') + dd")
    expect(shown).to_have_text(f"{day + timedelta(days=1):%a, %d %b %Y}, 00:00 UTC")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    token = ApiToken.objects.get(name="Dated robot")
    assert token.expires_at is not None
    assert token.expires_at.date() == day + timedelta(days=1)
    expect(page.locator(".summary-card dt:has-text('Expires') + dd")).to_contain_text(
        f"{token.expires_at:%d %b %Y}"
    )
    page.goto(f"/settings/api-tokens/{token.public_id}/")
    expect(page.locator("dt:has-text('Expires') + dd")).to_contain_text("in 9 days")


def test_the_edit_dialog_moves_the_expiry(new_page: Any, world: World) -> None:
    token = TokenFactory(account=world.acme, name="CRM robot", modules=["MOD-1756"])
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    page.goto(f"/settings/api-tokens/{token.public_id}/")
    expect(page.locator("dt:has-text('Expires') + dd")).to_have_text("Never")
    page.get_by_role("link", name="Edit", exact=True).click()
    dialog = page.locator("#dialog")
    expect(dialog).to_be_visible()
    expiration = dialog.get_by_label("Expiration")
    expect(expiration).to_have_value("keep")
    expiration.select_option("7")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_text("API token CRM robot has been saved.")).to_be_visible()
    expect(page.locator("dt:has-text('Expires') + dd")).to_contain_text(re.compile(r"in [67] days"))
    token.refresh_from_db()
    assert token.expires_at is not None


@pytest.mark.parametrize("width", [1440, 320])
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_axe_finds_nothing_on_the_expiration_control(
    new_page: Any, world: World, js: bool, width: int
) -> None:
    page = new_page(js=True, width=width)
    if not js:
        block_page_scripts(page)
    sign_in(page, world.alice.email)
    page.goto(ADD)
    problems = violations(page, "general")
    page.get_by_label("Expiration").select_option("custom")
    problems += violations(page, "custom date")
    page.get_by_placeholder("Enter API token name").fill("Axe robot")
    page.get_by_label("Expires on").fill("2020-01-01")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("The expiry must be in the future.")).to_be_visible()
    problems += violations(page, "custom date refused")
    assert problems == []
