"""Issue 15 in a real browser: creating a token is safe to repeat (reload, Back, a second
post), an htmx request without a session goes to sign-in as a whole page and comes back, and
the Edit dialog's tabs are one form."""

from __future__ import annotations

import re
from typing import Any

import pytest

from apitokens.models import ApiToken
from tests.browser.conftest import PASSWORD, World, sign_in
from tests.factories import TokenFactory

pytestmark = pytest.mark.browser

ACCESS_MANAGEMENT, BILLING = "MOD-1756", "MOD-4525"


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def edit_tab(page: Any, label: str) -> Any:
    # The tabs' labels (one form); the links of the tabs that once were separate forms too, so
    # that this test shows what they lost.
    return page.locator(".edit-tabs label, nav[aria-label='Edit sections'] a").filter(
        has_text=re.compile(rf"^{label}$")
    )


def walk_to_overview(page: Any, name: str) -> None:
    page.goto("/settings/api-tokens/add/")
    page.get_by_placeholder("Enter API token name").fill(name)
    page.get_by_role("button", name="Next").click()
    page.locator(f"input[name=modules][value={BILLING}]").check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_reloading_or_going_back_from_the_summary_creates_nothing_more(
    new_page: Any, world: World
) -> None:
    page = new_page(js=False)
    sign_in(page, world.alice.email)
    walk_to_overview(page, "Once robot")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    token = ApiToken.objects.get(account=world.acme)
    # A page of its own, reached by a redirect: reloading it is a GET, not the form again.
    expect(page).to_have_url(re.compile(rf"/settings/api-tokens/{token.public_id}/created/$"))
    value = page.locator("#new-token-value").input_value()  # a readonly field (issue 15)
    assert value.strip().startswith(f"idt:{token.public_id}:")

    page.reload()
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    expect(page.locator("#new-token-value")).to_have_count(0)
    expect(page.get_by_text("The value was shown once")).to_be_visible()
    assert value.strip() not in page.content()
    assert ApiToken.objects.filter(account=world.acme).count() == 1

    # To the details page and Back: the Summary again, from a GET, without the value.
    page.get_by_role("link", name="View details").click()
    expect(page).to_have_url(re.compile(rf"/settings/api-tokens/{token.public_id}/$"))
    page.go_back()
    expect(page).to_have_url(re.compile(rf"/{token.public_id}/created/$"))
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    expect(page.locator("#new-token-value")).to_have_count(0)

    assert ApiToken.objects.filter(account=world.acme).count() == 1


def test_an_expired_session_in_a_dialog_signs_in_as_a_page_and_comes_back(
    new_page: Any, world: World
) -> None:
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    page.goto("/settings/api-tokens/?status=Active")
    page.get_by_role("link", name="Add", exact=True).click()
    expect(page.locator("#dialog")).to_be_visible()
    page.get_by_placeholder("Enter API token name").fill("Late robot")
    page.context.clear_cookies(name="sessionid")  # the session expired meanwhile
    page.get_by_role("button", name="Next").click()

    expect(page).to_have_url(re.compile(r"/signin/\?next="))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.locator("#dialog").count() == 1
    assert page.locator("#messages").count() == 1
    expect(page.locator("#dialog")).to_be_hidden()
    page.get_by_label("Email").fill(world.alice.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/settings/api-tokens/\?status=Active$"))
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_the_edit_tabs_keep_unsaved_changes_and_save_all_of_them(
    new_page: Any, world: World, js: bool
) -> None:
    token = TokenFactory(account=world.acme, name="Tab robot", modules=[ACCESS_MANAGEMENT])
    page = new_page(js=js)
    sign_in(page, world.alice.email)
    page.goto(f"/settings/api-tokens/{token.public_id}/")
    page.locator(".details-actions").get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit API token")).to_be_visible()
    page.get_by_label("API token name").fill("Tab robot renamed")
    edit_tab(page, "Modules").click()
    page.locator(f"input[name=modules][value={BILLING}]").check()
    edit_tab(page, "General").click()
    expect(page.get_by_label("API token name")).to_have_value("Tab robot renamed")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#messages")).to_contain_text("has been saved.")
    token.refresh_from_db()
    assert token.name == "Tab robot renamed"
    assert sorted(token.modules.values_list("public_id", flat=True)) == [
        ACCESS_MANAGEMENT,
        BILLING,
    ]
