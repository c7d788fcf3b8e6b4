"""The Add wizard as people really use it (issue 15): Back without JavaScript never posts the
form again, a token without modules is warned of, the name rule shows before anyone breaks it,
the new value is one field with Copy beside it at any width, focus follows the steps, and axe
finds nothing (of any impact) on any state of the wizard, JavaScript on and off, at 1440 and
320 px. Each test here failed before its fix."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from apitokens.models import ApiToken
from tests.browser.axe import block_page_scripts, violations
from tests.browser.conftest import World, sign_in
from tests.factories import TokenFactory

pytestmark = pytest.mark.browser

ADD = "/settings/api-tokens/add/"
BILLING = "MOD-4525"
WIDTHS = (1440, 320)
VALUE_RE = re.compile(r"^idt:TKN-\d{4}-\d{4}:[A-Za-z0-9]{64}$")
NO_MODULES = "This API token can call nothing"


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def step_url(step: str) -> re.Pattern[str]:
    return re.compile(rf"/settings/api-tokens/add/\?wizard=[A-Za-z0-9_-]+&step={step}$")


def navigations(page: Any) -> list[str]:
    """The page's top-level navigations from now on, as "METHOD url"."""
    seen: list[str] = []
    page.on(
        "request",
        lambda request: (
            seen.append(f"{request.method} {request.url}")
            if request.is_navigation_request() and request.frame == page.main_frame
            else None
        ),
    )
    return seen


def heading(page: Any, name: str) -> Any:
    return page.get_by_role("heading", name=name, exact=True)


def no_page_overflow(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def shots_folder(tmp_path: Path) -> Path:
    """``WIZARD_SHOTS=folder`` keeps the pictures to look at; else a temporary folder."""
    folder = Path(os.environ.get("WIZARD_SHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_wizard(page: Any, *, js: bool) -> None:
    if js:
        page.goto("/settings/api-tokens/")
        page.get_by_role("link", name="Add", exact=True).click()
        expect(page.locator("#dialog")).to_be_visible()
    else:
        page.goto(ADD)
    expect(heading(page, "General")).to_be_visible()


def test_back_from_the_no_js_summary_never_posts_again(new_page: Any, world: World) -> None:
    page = new_page(js=False)
    sign_in(page, world.alice.email)
    page.goto(ADD)
    page.get_by_placeholder("Enter API token name").fill("Back robot")
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(step_url("modules"))
    page.locator(f"input[name=modules][value={BILLING}]").check()
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(step_url("overview"))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    token = ApiToken.objects.get(account=world.acme)
    expect(page).to_have_url(re.compile(rf"/{token.public_id}/created/$"))

    seen = navigations(page)
    page.go_back()
    expect(page).to_have_url(step_url("overview"))
    expect(heading(page, "Overview")).to_be_visible()
    expect(page.locator("dl.overview")).to_contain_text("Back robot")
    assert seen
    assert all(s.startswith("GET ") for s in seen), seen
    assert "ERR_CACHE_MISS" not in page.content()
    assert ApiToken.objects.filter(account=world.acme).count() == 1

    seen.clear()
    page.go_back()
    expect(page).to_have_url(step_url("modules"))
    expect(page.locator(f"input[name=modules][value={BILLING}]")).to_be_checked()
    assert seen
    assert all(s.startswith("GET ") for s in seen), seen

    # The form's own Back is a POST that lands on a GET page too; so is an error.
    page.get_by_role("button", name="Back").click()
    expect(page).to_have_url(step_url("general"))
    expect(page.get_by_label("API token name")).to_have_value("Back robot")
    page.get_by_label("API token name").fill("")
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(step_url("general"))
    expect(page.get_by_text("API token name is required.")).to_be_visible()
    # Without JavaScript the page itself puts the focus on the field to fix.
    expect(page.get_by_label("API token name")).to_be_focused()
    seen.clear()
    page.go_back()
    expect(page).to_have_url(step_url("general"))
    assert seen
    assert all(s.startswith("GET ") for s in seen), seen

    # Forward to the Overview and Add again: the same token's Summary, never a second token.
    page.goto(page.url.replace("step=general", "step=overview"))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/{token.public_id}/created/$"))
    expect(page.get_by_text("The value was shown once")).to_be_visible()
    assert ApiToken.objects.filter(account=world.acme).count() == 1


def test_focus_follows_the_steps_and_errors_with_js(new_page: Any, world: World) -> None:
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    open_wizard(page, js=True)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("API token name is required.")).to_be_visible()
    expect(page.get_by_label("API token name")).to_be_focused()
    page.get_by_label("API token name").fill("Focus robot")
    page.get_by_role("button", name="Next").click()
    expect(heading(page, "Modules")).to_be_focused()
    page.get_by_role("button", name="Next").click()
    expect(heading(page, "Overview")).to_be_focused()
    page.get_by_role("button", name="Back").click()
    expect(heading(page, "Modules")).to_be_focused()
    # The dialog flow never changes the page's URL.
    expect(page).to_have_url(re.compile(r"/settings/api-tokens/$"))


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_a_token_without_modules_is_warned_of(new_page: Any, world: World, js: bool) -> None:
    page = new_page(js=js)
    sign_in(page, world.alice.email)
    open_wizard(page, js=js)
    page.get_by_placeholder("Enter API token name").fill("Idle robot")
    page.get_by_role("button", name="Next").click()
    expect(heading(page, "Modules")).to_be_visible()
    warning = page.get_by_text(NO_MODULES)
    expect(warning).to_be_visible()
    box = page.locator(f"input[name=modules][value={BILLING}]")
    box.check()
    expect(warning).to_be_hidden()
    box.uncheck()
    expect(warning).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(heading(page, "Overview")).to_be_visible()
    expect(page.get_by_text(NO_MODULES)).to_be_visible()
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    page.goto("/settings/api-tokens/")
    row = page.locator("#token-table tbody tr").filter(has_text="Idle robot")
    expect(row.locator("td[data-label=Modules]")).to_have_text("No modules")


def test_the_name_rule_shows_before_anyone_breaks_it(new_page: Any, world: World) -> None:
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    open_wizard(page, js=True)
    name = page.get_by_label("API token name")
    expect(name).to_have_accessible_description(re.compile(r"Letters, digits, spaces .* 200"))
    expect(page.locator("#dialog .hint").filter(has_text="at most 200 characters")).to_be_visible()


def add_token(page: Any, *, js: bool, name: str) -> None:
    open_wizard(page, js=js)
    page.get_by_placeholder("Enter API token name").fill(name)
    page.get_by_role("button", name="Next").click()
    page.locator(f"input[name=modules][value={BILLING}]").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_the_new_value_is_one_field_with_copy_beside_it(
    new_page: Any, world: World, tmp_path: Path, js: bool, width: int
) -> None:
    page = new_page(js=js, width=width)
    sign_in(page, world.alice.email)
    add_token(page, js=js, name="Value robot")
    warning = page.locator(".callout-warning").filter(has_text="Copy the value now")
    expect(warning).to_be_visible()
    field = page.locator("#new-token-value")
    expect(field).to_be_hidden()
    page.locator(".secret-new").get_by_text("Show", exact=True).click()
    expect(field).to_be_visible()
    expect(field).to_have_attribute("readonly", "")
    value = field.input_value()
    assert VALUE_RE.match(value), value
    box = field.bounding_box()
    assert box["height"] < 48  # one line: the value never wraps
    assert no_page_overflow(page)
    if width == 320:
        # Longer than the field: it scrolls inside itself.
        assert field.evaluate("el => el.scrollWidth > el.clientWidth")
    copy = page.locator(".secret-new").get_by_role("button", name="Copy")
    if js:
        copy_box = copy.bounding_box()
        # Beside the field: on its line, to its right.
        assert copy_box["x"] >= box["x"] + box["width"] - 1
        assert abs((copy_box["y"] + copy_box["height"] / 2) - (box["y"] + box["height"] / 2)) < 8
        copy.click()
        expect(page.locator("#messages")).to_contain_text("Copied to the clipboard.")
        assert page.evaluate("navigator.clipboard.readText()") == value
    else:
        expect(copy).to_be_hidden()
    mode = "js" if js else "nojs"
    page.screenshot(path=str(shots_folder(tmp_path) / f"summary-{mode}-{width}.png"))


@pytest.mark.parametrize("width", WIDTHS)
def test_screenshots_of_the_modules_step(
    new_page: Any, world: World, tmp_path: Path, width: int
) -> None:
    page = new_page(js=True, width=width)
    sign_in(page, world.alice.email)
    open_wizard(page, js=True)
    page.get_by_placeholder("Enter API token name").fill("Picture robot")
    page.get_by_role("button", name="Next").click()
    expect(heading(page, "Modules")).to_be_visible()
    assert no_page_overflow(page)
    page.screenshot(path=str(shots_folder(tmp_path) / f"modules-none-{width}.png"))
    page.locator(f"input[name=modules][value={BILLING}]").check()
    page.screenshot(path=str(shots_folder(tmp_path) / f"modules-one-{width}.png"))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_axe_finds_nothing_in_any_state_of_the_wizard(
    new_page: Any, world: World, js: bool, width: int
) -> None:
    token = TokenFactory(account=world.acme, name="CRM robot", modules=["MOD-1756"])
    TokenFactory(account=world.acme, name="Old feed", disabled=True)
    page = new_page(js=True, width=width)
    if not js:
        # axe runs as a script in the page, which a context without JavaScript never runs:
        # here the page's own scripts are what is switched off (see tests/browser/axe.py).
        block_page_scripts(page)
    sign_in(page, world.alice.email)
    problems: list[str] = []

    open_wizard(page, js=js)
    problems += violations(page, "general")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("API token name is required.")).to_be_visible()
    problems += violations(page, "general with an error")
    page.get_by_placeholder("Enter API token name").fill("Axe robot")
    page.get_by_role("button", name="Next").click()
    expect(heading(page, "Modules")).to_be_visible()
    problems += violations(page, "modules, none ticked")
    page.get_by_role("button", name="Next").click()
    expect(heading(page, "Overview")).to_be_visible()
    problems += violations(page, "overview without modules")
    page.get_by_role("button", name="Back").click()
    expect(heading(page, "Modules")).to_be_visible()
    page.locator(f"input[name=modules][value={BILLING}]").check()
    problems += violations(page, "modules, one ticked")
    page.get_by_role("button", name="Next").click()
    expect(heading(page, "Overview")).to_be_visible()
    problems += violations(page, "overview")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    problems += violations(page, "summary")
    page.locator(".secret-new").get_by_text("Show", exact=True).click()
    expect(page.locator("#new-token-value")).to_be_visible()
    problems += violations(page, "summary, value shown")
    if not js:
        page.reload()
        expect(page.get_by_text("The value was shown once")).to_be_visible()
        problems += violations(page, "summary again")
        # The other dialogs' full pages, as they open without JavaScript.
        base = f"/settings/api-tokens/{token.public_id}/"
        for path in ("disable/", "delete/", "edit/", "edit/?step=modules"):
            page.goto(base + path)
            problems += violations(page, f"page {path}")
        old = ApiToken.objects.get(name="Old feed")
        page.goto(f"/settings/api-tokens/{old.public_id}/enable/")
        problems += violations(page, "page enable/")

    assert problems == []
