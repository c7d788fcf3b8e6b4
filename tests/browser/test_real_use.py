"""The admin pages as people really use them, with JavaScript on: the back button between htmx
views, every way out of a dialog, the keyboard in the row menu and the wizard, a slow server,
and a logo that is too big. Each test here failed before its fix (issue 15)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from apitokens.models import ApiToken
from tests.browser.conftest import World, png_logo, sign_in
from tests.factories import TokenFactory

pytestmark = pytest.mark.browser

ACCESS_MANAGEMENT = "MOD-1756"


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def go_back_and_wait(page: Any) -> None:
    """Back to the previous htmx view, once htmx has restored the whole page from the server.
    (The page's CSP refuses ``wait_for_function``'s eval, so the listener marks <html>.)"""
    page.evaluate(
        "document.documentElement.removeAttribute('data-restored');"
        "document.body.addEventListener('htmx:historyRestore', function () {"
        " document.documentElement.setAttribute('data-restored', ''); }, {once: true})"
    )
    page.go_back()
    expect(page.locator("html")).to_have_attribute("data-restored", "")


def dialog(page: Any) -> Any:
    return page.locator("#dialog")


def close_with_escape(page: Any) -> None:
    page.keyboard.press("Escape")
    expect(dialog(page)).to_be_hidden()


def focused(page: Any) -> str:
    """What has the focus: its tag, then its id or text."""
    return str(
        page.evaluate(
            "(function (el) { return el.tagName.toLowerCase() + ' '"
            " + (el.id || el.textContent.trim()); })(document.activeElement)"
        )
    )


def test_the_list_dialogs_open_after_sorting_and_going_back(new_page: Any, world: World) -> None:
    TokenFactory(account=world.acme, name="CRM robot")
    TokenFactory(account=world.acme, name="Billing feed")
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    page.locator("#token-table thead").get_by_role("link", name="API token").click()
    expect(page).to_have_url(re.compile(r"sort=name"))
    go_back_and_wait(page)
    expect(page).not_to_have_url(re.compile(r"sort="))

    page.get_by_role("link", name="Add", exact=True).click()
    expect(dialog(page).get_by_role("heading", name="Add API token")).to_be_visible()
    close_with_escape(page)
    for item, heading in (
        ("Disable", "Disable API token"),
        ("Edit", "Edit API token"),
        ("Delete", "Delete API token"),
    ):
        page.get_by_label("Actions for CRM robot").click()
        page.locator(".menu-list").get_by_role("link", name=item, exact=True).click()
        expect(dialog(page).get_by_role("heading", name=heading)).to_be_visible()
        close_with_escape(page)

    # And the dialog still does its work: the row changes in place, the message shows.
    page.get_by_label("Actions for CRM robot").click()
    page.locator(".menu-list").get_by_role("link", name="Disable", exact=True).click()
    dialog(page).get_by_role("button", name="Disable", exact=True).click()
    expect(dialog(page)).to_be_hidden()
    expect(page.locator("#messages")).to_contain_text("API token CRM robot has been disabled.")
    expect(page.locator("#token-table tr", has_text="CRM robot")).to_contain_text("Disabled")


def test_the_details_edit_dialog_opens_after_a_tab_and_going_back(
    new_page: Any, world: World
) -> None:
    token = TokenFactory(account=world.acme, name="CRM robot", modules=[ACCESS_MANAGEMENT])
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    page.goto(f"/settings/api-tokens/{token.public_id}/")
    page.get_by_role("navigation", name="API token sections").get_by_role(
        "link", name="Modules", exact=True
    ).click()
    expect(page).to_have_url(re.compile(r"/modules/$"))
    go_back_and_wait(page)
    expect(page).to_have_url(re.compile(rf"/{token.public_id}/$"))

    page.locator(".details-actions").get_by_role("link", name="Edit").click()
    expect(dialog(page).get_by_role("heading", name="Edit API token")).to_be_visible()
    close_with_escape(page)
    page.get_by_label("Actions for CRM robot").click()
    page.locator(".menu-list").get_by_role("link", name="Disable", exact=True).click()
    expect(dialog(page).get_by_role("heading", name="Disable API token")).to_be_visible()
    close_with_escape(page)


def add_through_the_wizard(page: Any, name: str) -> None:
    page.get_by_role("link", name="Add", exact=True).click()
    page.get_by_placeholder("Enter API token name").fill(name)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Modules", exact=True)).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()


@pytest.mark.parametrize("how", ["escape", "close-button"])
def test_every_way_of_closing_the_add_summary_refreshes_the_list(
    new_page: Any, world: World, how: str
) -> None:
    for n in range(4):
        TokenFactory(account=world.acme, name=f"Robot {n}")
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    page.goto("/settings/api-tokens/?sort=name")
    expect(page.locator(".row-info")).to_have_text("1–4 of 4 rows")

    add_through_the_wizard(page, "A fresh robot")
    if how == "escape":
        page.keyboard.press("Escape")
    else:
        dialog(page).get_by_role("link", name="Close").click()
    expect(dialog(page)).to_be_hidden()
    expect(page.locator(".row-info")).to_have_text("1–5 of 5 rows")
    expect(page.locator("#token-table")).to_contain_text("A fresh robot")
    # The list stays the view it was: sorted by name, the new token first.
    expect(page).to_have_url(re.compile(r"/settings/api-tokens/\?sort=name$"))
    expect(page.locator("#token-table tbody tr").first).to_contain_text("A fresh robot")


def test_the_add_summary_refreshes_the_list_after_going_back(new_page: Any, world: World) -> None:
    TokenFactory(account=world.acme, name="CRM robot")
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    page.locator("#token-table thead").get_by_role("link", name="Status").click()
    expect(page).to_have_url(re.compile(r"sort=status"))
    go_back_and_wait(page)
    add_through_the_wizard(page, "A fresh robot")
    close_with_escape(page)
    expect(page.locator(".row-info")).to_have_text("1–2 of 2 rows")


def test_focus_follows_the_wizard_steps_and_errors(new_page: Any, world: World) -> None:
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    page.get_by_role("link", name="Add", exact=True).click()
    expect(dialog(page)).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".field.has-error")).to_be_visible()
    assert focused(page) == "input id_name"

    page.get_by_placeholder("Enter API token name").fill("Focus robot")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Modules", exact=True)).to_be_focused()
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_role("heading", name="General", exact=True)).to_be_focused()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Modules", exact=True)).to_be_focused()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_focused()
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    expect(dialog(page).get_by_role("heading", name="Add API token")).to_be_focused()


def test_focus_goes_to_the_invalid_field_of_the_edit_dialog(new_page: Any, world: World) -> None:
    TokenFactory(account=world.acme, name="CRM robot")
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    page.get_by_label("Actions for CRM robot").click()
    page.locator(".menu-list").get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("API token name").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".field.has-error")).to_be_visible()
    assert focused(page) == "input id_name"


def test_the_row_menu_follows_the_menu_pattern(new_page: Any, world: World) -> None:
    TokenFactory(account=world.acme, name="CRM robot")
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    menu = page.locator("#token-table details[data-menu]")
    summary = page.get_by_label("Actions for CRM robot")
    items = page.locator(".menu-list a")

    summary.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(items.nth(1)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(items.nth(2)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(items.nth(3)).to_be_focused()  # Disable, Edit, Rotate, Delete
    page.keyboard.press("ArrowDown")
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(items.nth(3)).to_be_focused()
    page.keyboard.press("Home")
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("End")
    expect(items.nth(3)).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()

    # ArrowDown on the closed menu opens it too; focus leaving the menu closes it.
    page.keyboard.press("ArrowDown")
    expect(menu).to_have_attribute("open", "")
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(summary).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(menu).not_to_have_attribute("open", "")

    # Enter on an item still does what it says.
    summary.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(dialog(page).get_by_role("heading", name="Disable API token")).to_be_visible()


def test_a_confirm_button_is_disabled_while_its_request_runs(new_page: Any, world: World) -> None:
    token = TokenFactory(account=world.acme, name="CRM robot")
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    held: list[Any] = []

    def hold_the_post(route: Any) -> None:
        if route.request.method == "POST":
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(rf"/settings/api-tokens/{token.public_id}/disable/"), hold_the_post)
    page.get_by_label("Actions for CRM robot").click()
    page.locator(".menu-list").get_by_role("link", name="Disable", exact=True).click()
    confirm = dialog(page).get_by_role("button", name="Disable", exact=True)
    confirm.click()
    expect(confirm).to_be_disabled()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    expect(confirm).to_be_disabled()
    held[0].continue_()
    expect(dialog(page)).to_be_hidden()
    expect(page.locator(f"#token-{token.public_id}")).to_contain_text("Disabled")


def test_a_logo_over_the_limit_is_refused_before_it_is_uploaded(
    new_page: Any, world: World, tmp_path: Path
) -> None:
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    posts: list[str] = []
    page.on(
        "request", lambda request: posts.append(request.url) if request.method == "POST" else None
    )
    page.get_by_role("link", name="Add", exact=True).click()
    page.get_by_placeholder("Enter API token name").fill("Big logo robot")
    big = tmp_path / "big.png"
    big.write_bytes(png_logo(tmp_path / "small.png").read_bytes() + b"\0" * (5 * 1024 * 1024))
    page.get_by_label("Logo").set_input_files(str(big))
    logo_field = page.locator(".field", has=page.get_by_label("Logo"))
    expect(logo_field).to_have_class(re.compile(r"has-error"))
    expect(logo_field).to_contain_text("The file is larger than 5MB.")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="General", exact=True)).to_be_visible()
    assert focused(page) == "input id_logo"
    assert posts == []

    # A logo within the limit clears the error and goes through.
    page.get_by_label("Logo").set_input_files(str(tmp_path / "small.png"))
    expect(logo_field).not_to_have_class(re.compile(r"has-error"))
    expect(logo_field).not_to_contain_text("larger than 5MB")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Modules", exact=True)).to_be_visible()
    assert len(posts) == 1
    assert not ApiToken.objects.filter(account=world.acme).exists()


def test_sorting_from_the_keyboard_keeps_the_focus_on_the_header(
    new_page: Any, world: World
) -> None:
    TokenFactory(account=world.acme, name="CRM robot")
    TokenFactory(account=world.acme, name="Billing feed")
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    header = page.locator("#token-table thead").get_by_role("link", name="API token")
    header.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"sort=name"))
    expect(page.locator("#token-table th[aria-sort]")).to_contain_text("API token")
    expect(page.locator("#token-table thead").get_by_role("link", name="API token")).to_be_focused()
