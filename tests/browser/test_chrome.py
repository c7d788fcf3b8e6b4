"""Issue 15, the page chrome in a real browser: a Member lands on a page that says what they
may do and is shown no link to a 403 page; the header shows only what the user may open, is
compact on a phone and marks the current account; the details tabs and the ids survive 320 px;
an expired session in a dialog signs in and comes back to the dialog's page.

Screenshots go to ``CHROME_SCREENSHOTS_DIR`` when it is set (to look at them), else to a
temporary folder."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from accounts.models import Role
from tests.browser.axe import violations
from tests.browser.conftest import PASSWORD, World, sign_in
from tests.factories import AccountFactory, MembershipFactory, TokenFactory

pytestmark = pytest.mark.browser

PHONES = [375, 320]
HEADER_MAX_PX = 64


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def shots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CHROME_SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def header_height(page: Any) -> float:
    box = page.locator("header.topbar").bounding_box()
    assert box is not None
    return float(box["height"])


def between(box: dict[str, float], left: float, right: float) -> bool:
    """Is the box wholly between ``left`` and ``right``, horizontally?"""
    return left <= box["x"] and box["x"] + box["width"] <= right


def page_overflows_sideways(page: Any) -> bool:
    return bool(
        page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
    )


def hrefs(page: Any) -> list[str]:
    found = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    return [str(h) for h in found if h and not h.startswith(("#", "mailto:"))]


# 1. A Member's landing page and menu.


@pytest.mark.parametrize("width", [1440, 320])
def test_a_member_lands_on_a_page_that_says_what_they_may_do(
    new_page: Any, world: World, width: int, tmp_path: Path
) -> None:
    page = new_page(js=True, width=width)
    sign_in(page, world.bob.email)

    expect(page).to_have_url(re.compile(r"/account/$"))
    main = page.locator("main")
    expect(main.get_by_role("heading", level=1)).to_contain_text("Acme Corporation")
    expect(main).to_contain_text("Member")
    # Who the Administrators are, and how to ask them.
    admins = main.locator("#administrators")
    expect(admins).to_contain_text(world.alice.name)
    expect(admins.get_by_role("link", name=world.alice.email)).to_have_attribute(
        "href", re.compile(r"^mailto:alice@acme\.test")
    )
    expect(main).to_contain_text("API tokens")  # what a Member may not see, said in words

    # The header offers nothing a Member may not open.
    header = page.locator("header.topbar")
    expect(header.get_by_role("link", name="API tokens")).to_have_count(0)
    expect(header.get_by_role("link", name="Audit trail")).to_have_count(0)
    expect(header.get_by_role("link", name="Pick account")).to_have_count(0)

    # No link on the page (the header's menu included) leads to a 403.
    assert hrefs(page), "the page has links"
    for href in hrefs(page):
        response = page.request.get(urljoin(page.url, href), max_redirects=5)
        assert response.status != 403, href
        assert "/settings/" not in href, href

    assert not page_overflows_sideways(page)
    problems = violations(page, f"member landing at {width}")
    page.locator("header .account-menu > summary").click()
    problems += violations(page, f"member landing, account menu open, at {width}")
    page.keyboard.press("Escape")
    assert problems == []
    page.screenshot(path=str(shots_dir(tmp_path) / f"member-landing-{width}.png"), full_page=True)


def test_a_member_who_opens_an_admin_page_is_shown_the_way_back(
    new_page: Any, world: World
) -> None:
    page = new_page(js=True)
    sign_in(page, world.bob.email)
    page.goto("/settings/api-tokens/")
    expect(page.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
    page.locator("main").get_by_role("link", name="What you can do").click()
    expect(page).to_have_url(re.compile(r"/account/$"))


def test_the_menu_shows_an_administrator_the_pages_they_may_open(
    new_page: Any, world: World
) -> None:
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    expect(page).to_have_url(re.compile(r"/settings/api-tokens/$"))
    header = page.locator("header.topbar")
    expect(header.get_by_role("link", name="API tokens")).to_have_attribute("aria-current", "page")
    expect(header.get_by_role("link", name="Audit trail")).to_be_visible()
    expect(header.get_by_role("link", name="Pick account")).to_have_count(0)


# 2. The account picker and the header's account menu.


@pytest.mark.parametrize("width", [1440, 320])
def test_the_account_picker_reads_as_it_is_named_and_marks_the_current_account(
    new_page: Any, world: World, width: int, tmp_path: Path
) -> None:
    page = new_page(js=True, width=width)
    sign_in(page, world.olivia.email)
    page.goto("/account/pick/")
    current = page.locator("#account-results tr[aria-current='true']")
    expect(current).to_have_count(1)
    expect(current).to_contain_text(world.operations.name)
    expect(current).to_contain_text("Current")
    assert not page_overflows_sideways(page)
    problems = violations(page, f"account picker at {width}")

    page.get_by_role("button", name=f"Act on {world.acme.name}").click()
    expect(page).to_have_url(re.compile(r"/settings/api-tokens/$"))
    page.goto("/account/pick/")
    current = page.locator("#account-results tr[aria-current='true']")
    expect(current).to_contain_text(world.acme.name)
    expect(current).to_contain_text("Current")
    problems += violations(page, f"account picker on Acme at {width}")

    # The header's account menu says the same.
    page.locator("header .account-menu > summary").click()
    marked = page.locator("header .account-menu [aria-current='true']")
    expect(marked).to_have_count(1)
    expect(marked).to_contain_text(world.acme.name)
    expect(marked).to_contain_text("Current")
    problems += violations(page, f"account picker, account menu open, at {width}")
    page.screenshot(path=str(shots_dir(tmp_path) / f"account-picker-{width}.png"), full_page=True)
    assert problems == []


def test_the_account_menu_switches_accounts_and_marks_the_current_one(
    new_page: Any, world: World
) -> None:
    globex = AccountFactory(name="Globex")
    MembershipFactory(user=world.bob, account=globex, role=Role.ADMINISTRATOR)
    page = new_page(js=True)
    sign_in(page, world.bob.email)  # in Acme Corporation, the first by name: a Member there
    expect(page).to_have_url(re.compile(r"/account/$"))
    menu = page.locator("header .account-menu")
    menu.locator("summary").click()
    expect(menu.locator("[aria-current='true']")).to_contain_text("Acme Corporation")
    assert violations(page, "account menu with two accounts") == []
    menu.get_by_role("button", name="Switch to Globex").click()
    expect(page).to_have_url(re.compile(r"/settings/api-tokens/$"))  # an Administrator there
    expect(page.locator("#messages")).to_contain_text("You are now working in Globex")
    page.locator("header .account-menu > summary").click()
    expect(page.locator("header .account-menu [aria-current='true']")).to_contain_text("Globex")
    # Back to Acme: the page that says what a Member may do, not a 403.
    page.locator("header .account-menu").get_by_role(
        "button", name="Switch to Acme Corporation"
    ).click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    expect(page.locator("header").get_by_role("link", name="API tokens")).to_have_count(0)


# 3. Phones: a compact header, tabs that are not cut off, ids in one piece.


@pytest.mark.parametrize("width", PHONES)
@pytest.mark.parametrize("who", ["alice", "bob", "olivia"])
def test_the_header_is_compact_on_a_phone(
    new_page: Any, world: World, width: int, who: str, tmp_path: Path
) -> None:
    page = new_page(js=True, width=width, height=700)
    sign_in(page, getattr(world, who).email)
    if who == "olivia":  # the longest header: an operator acting on another account
        page.goto("/account/pick/")
        page.get_by_role("button", name=f"Act on {world.acme.name}").click()
        expect(page).to_have_url(re.compile(r"/settings/api-tokens/$"))
    assert header_height(page) <= HEADER_MAX_PX
    assert not page_overflows_sideways(page)
    # Side by side, none over another, none cut off at the edge.
    parts = page.locator(
        "header.topbar > .brand, header.topbar > .mainnav, header .account-menu > summary"
    )
    found = (parts.nth(i).bounding_box() for i in range(parts.count()))
    boxes = sorted((box for box in found if box), key=lambda box: box["x"])
    assert len(boxes) == (2 if who == "bob" else 3)
    for left, right in itertools.pairwise(boxes):
        assert left["x"] + left["width"] <= right["x"], boxes
    assert between(boxes[0], 0, width)
    assert between(boxes[-1], 0, width)
    page.locator("header.topbar").screenshot(
        path=str(shots_dir(tmp_path) / f"header-{who}-{width}.png")
    )
    # Everything the wide header shows is one tap away, and opening it does not grow the bar.
    page.locator("header .account-menu > summary").click()
    panel = page.locator("header .account-menu-panel")
    expect(panel.get_by_role("button", name="Sign out")).to_be_visible()
    expect(panel).to_contain_text(getattr(world, who).name)
    assert header_height(page) <= HEADER_MAX_PX
    box = panel.bounding_box()
    assert box is not None
    assert between(box, 0, width)
    if who == "olivia":
        expect(panel.get_by_role("link", name="Pick account")).to_be_visible()
    page.screenshot(path=str(shots_dir(tmp_path) / f"header-{who}-{width}-open.png"))


@pytest.mark.parametrize("width", PHONES)
def test_the_details_tabs_and_ids_survive_a_phone(
    new_page: Any, world: World, width: int, tmp_path: Path
) -> None:
    token = TokenFactory(account=world.acme, name="CRM robot", modules=["MOD-1756"])
    page = new_page(js=True, width=width, height=700)
    sign_in(page, world.alice.email)
    page.goto(f"/settings/api-tokens/{token.public_id}/")
    assert not page_overflows_sideways(page)
    tabs = page.locator("nav.tabs")
    nav = tabs.bounding_box()
    assert nav is not None
    tops = set()
    for label in ["General", "Modules", "Details", "Usage", "Audit trail"]:
        box = tabs.get_by_role("link", name=label, exact=True).bounding_box()
        assert box is not None
        # Fully inside the tab bar and on screen, without scrolling: nothing is cut off.
        assert between(box, nav["x"] - 0.5, nav["x"] + nav["width"] + 0.5)
        assert between(box, 0, width)
        tops.add(round(box["y"]))
    assert tabs.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert len(tops) == 1, "the five tabs fit one row at this width (they wrap when they do not)"
    page.screenshot(path=str(shots_dir(tmp_path) / f"details-tabs-{width}.png"))
    # The last tab opens from where it is.
    tabs.get_by_role("link", name="Audit trail", exact=True).click()
    expect(page).to_have_url(re.compile(r"/audit/$"))

    # Ids stay in one piece: one line box each, never broken at a hyphen.
    page.goto(f"/settings/api-tokens/{token.public_id}/")
    for text in (token.public_id, world.acme.public_id):
        ids = page.locator("main .public-id", has_text=re.compile(rf"^{text}$"))
        expect(ids.first).to_be_visible()
        for index in range(ids.count()):
            element = ids.nth(index)
            assert element.evaluate("el => getComputedStyle(el).whiteSpace") == "nowrap"
            assert element.evaluate("el => el.getClientRects().length") == 1, text


# 4. An expired session and a dialog.


def test_an_expired_session_when_opening_a_dialog_comes_back_to_the_dialogs_page(
    new_page: Any, world: World
) -> None:
    token = TokenFactory(account=world.acme, name="CRM robot")
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    page.goto("/settings/api-tokens/?status=Active")
    page.get_by_label("Actions for CRM robot").click()
    page.context.clear_cookies()  # the session expired meanwhile
    page.locator(".menu-list").get_by_role("link", name="Edit", exact=True).click()

    expect(page).to_have_url(re.compile(r"/signin/\?next="))
    page.get_by_label("Email").fill(world.alice.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # The dialog's own page (it works without JavaScript too), with where it came from.
    expect(page).to_have_url(re.compile(rf"/settings/api-tokens/{token.public_id}/edit/\?"))
    expect(page.get_by_role("heading", name="Edit API token")).to_be_visible()
    expect(page.locator("#dialog")).to_be_hidden()
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(re.compile(r"/settings/api-tokens/\?status=Active$"))


def test_an_expired_session_inside_a_dialog_comes_back_to_the_page_behind_it(
    new_page: Any, world: World
) -> None:
    token = TokenFactory(account=world.acme, name="CRM robot")
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    page.goto(f"/settings/api-tokens/{token.public_id}/modules/")
    page.locator(".details-actions").get_by_label("Actions for CRM robot").click()
    page.locator(".menu-list").get_by_role("link", name="Disable", exact=True).click()
    expect(page.locator("#dialog")).to_be_visible()
    page.context.clear_cookies()
    page.locator("#dialog").get_by_role("button", name="Disable").click()

    expect(page).to_have_url(re.compile(r"/signin/\?next="))
    page.get_by_label("Email").fill(world.alice.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # A form post is not replayed: back on the page the dialog was opened from.
    expect(page).to_have_url(re.compile(rf"/settings/api-tokens/{token.public_id}/modules/$"))
    token.refresh_from_db()
    assert token.status == "Active"
