"""axe-core (axe-playwright-python, which bundles it) on every page and every open dialog: no
serious or critical violation, on a large screen and at 375 px."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apitokens.models import ApiToken
from tests.browser import axe
from tests.browser.conftest import World, sign_in
from tests.factories import TokenFactory

pytestmark = pytest.mark.browser

BLOCKING = {"serious", "critical"}


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def violations(page: Any, where: str, *, skip: dict[str, str] | None = None) -> list[str]:
    return axe.violations(page, where, impacts=BLOCKING, skip=skip)


def open_dialog(page: Any, opener: Any) -> None:
    opener.click()
    expect(page.locator("#dialog")).to_be_visible()
    page.wait_for_load_state("networkidle")


def close_dialog(page: Any) -> None:
    page.keyboard.press("Escape")
    expect(page.locator("#dialog")).to_be_hidden()


@pytest.mark.parametrize("width", [1440, 375])
def test_no_page_or_dialog_has_a_serious_violation(new_page: Any, world: World, width: int) -> None:
    token = TokenFactory(account=world.acme, name="CRM robot", modules=["MOD-1756", "MOD-4525"])
    TokenFactory(account=world.acme, name="Old feed", disabled=True)
    soon = TokenFactory(account=world.acme, name="Release bot")
    ApiToken.objects.filter(pk=soon.pk).update(expires_at=timezone.now() + timedelta(days=3))
    page = new_page(js=True, width=width)
    problems: list[str] = []

    page.goto("/signin/")
    problems += violations(page, "sign-in")
    page.get_by_label("Email").fill(world.alice.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    problems += violations(page, "sign-in with an error")

    sign_in(page, world.alice.email)
    problems += violations(page, "token list")
    page.goto("/settings/api-tokens/?q=nothing-matches")
    problems += violations(page, "token list, empty")
    page.goto("/settings/api-tokens/")

    # The Add wizard, every step.
    open_dialog(page, page.get_by_role("link", name="Add", exact=True))
    problems += violations(page, "add: general")
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".field.has-error")).to_be_visible()
    problems += violations(page, "add: general with an error")
    page.get_by_placeholder("Enter API token name").fill("Axe robot")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Modules", exact=True)).to_be_visible()
    problems += violations(page, "add: modules")
    page.locator("input[name=modules][value=MOD-1756]").check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    problems += violations(page, "add: overview")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    page.locator(".secret-details > summary").click()
    problems += violations(page, "add: summary")
    close_dialog(page)

    # Row actions: confirmations and the edit dialog.
    for item in ("Disable", "Delete", "Edit"):
        page.goto("/settings/api-tokens/")
        page.get_by_label("Actions for CRM robot").click()
        problems += violations(page, f"list with the menu open ({item})")
        open_dialog(page, page.locator(".menu-list").get_by_role("link", name=item, exact=True))
        problems += violations(page, f"dialog: {item}")
        if item == "Edit":
            page.locator(".edit-tabs").get_by_text("Modules", exact=True).click()
            expect(page.locator("input[name=modules]").first).to_be_visible()
            problems += violations(page, "dialog: edit modules")
        close_dialog(page)
    page.goto("/settings/api-tokens/")
    page.get_by_label("Actions for Old feed").click()
    open_dialog(page, page.locator(".menu-list").get_by_role("link", name="Enable", exact=True))
    problems += violations(page, "dialog: Enable")
    close_dialog(page)

    # Token lifetime (issue 16): the rotate dialog, the new value, the policy page, the banner.
    page.goto("/settings/api-tokens/")
    page.get_by_label("Actions for CRM robot").click()
    open_dialog(page, page.locator(".menu-list").get_by_role("link", name="Rotate", exact=True))
    problems += violations(page, "dialog: rotate")
    page.get_by_label("After 1 hour").check()
    page.get_by_role("button", name="Rotate", exact=True).click()
    expect(page.get_by_role("heading", name="API token rotated")).to_be_visible()
    page.locator(".secret-details > summary").click()
    # Skipped until the token lifetime work fixes it in apitokens/rotated.html: "label"
    # (critical), #new-token-value has no label there (the wizard's Summary puts one before
    # _secret.html; the rotated dialog does not).
    problems += violations(page, "dialog: rotated, the new value shown")
    close_dialog(page)
    page.goto("/settings/api-tokens/policy/")
    problems += violations(page, "token lifetime policy")
    page.get_by_label("Maximum lifetime (days)").fill("0")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator(".field-error")).to_be_visible()
    problems += violations(page, "token lifetime policy with an error")
    page.get_by_label("Maximum lifetime (days)").fill("30")
    page.get_by_role("button", name="Save policy").click()
    problems += violations(page, "token lifetime policy, tokens outside it")
    page.goto("/settings/api-tokens/")
    expect(page.locator(".banner-warning")).to_be_visible()
    problems += violations(page, "token list with the expiry banner")

    # The details page, each tab, the revealed value.
    for suffix, label in (("", "general"), ("modules/", "modules"), ("details/", "details")):
        page.goto(f"/settings/api-tokens/{token.public_id}/{suffix}")
        problems += violations(page, f"details: {label}")
    page.goto(f"/settings/api-tokens/{token.public_id}/")
    page.locator("#token-value").get_by_role("button", name="Show").click()
    expect(page.locator("#token-value [data-secret-value]")).to_be_visible()
    problems += violations(page, "details: value shown")
    page.goto(f"/settings/api-tokens/{token.public_id}/audit/")
    problems += violations(page, "details: audit trail")
    open_dialog(page, page.get_by_role("link", name="View details").first)
    problems += violations(page, "dialog: audit record (from the token)")
    close_dialog(page)

    # The account's audit trail and its record dialog.
    page.goto("/settings/audit-trail/")
    problems += violations(page, "audit trail")
    open_dialog(page, page.get_by_role("link", name="View details").first)
    problems += violations(page, "dialog: audit record")
    close_dialog(page)
    page.goto("/settings/audit-trail/?from=not-a-date")
    problems += violations(page, "audit trail with a filter error")

    # Error pages.
    page.goto("/settings/api-tokens/TKN-0000-0000/")
    problems += violations(page, "404 page")

    # An operator's account picker; a Member's 403 page.
    ops = new_page(js=True, width=width)
    sign_in(ops, world.olivia.email)
    ops.goto("/account/pick/")
    problems += violations(ops, "account picker")
    member = new_page(js=True, width=width)
    sign_in(member, world.bob.email)
    problems += violations(member, "a Member's access page")
    member.goto("/settings/api-tokens/")
    problems += violations(member, "403 page")

    assert problems == []


def test_dialogs_trap_focus_and_close_on_escape(new_page: Any, world: World) -> None:
    TokenFactory(account=world.acme, name="CRM robot")
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    opener = page.get_by_role("link", name="Add", exact=True)
    open_dialog(page, opener)
    # Focus moved into the dialog; tabbing around never leaves it.
    assert page.evaluate("document.getElementById('dialog').contains(document.activeElement)")
    for _ in range(12):
        page.keyboard.press("Tab")
        assert page.evaluate("document.getElementById('dialog').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(page.locator("#dialog")).to_be_hidden()
    # Focus returns to what opened the dialog.
    assert page.evaluate("document.activeElement.textContent.trim()") == "Add"
