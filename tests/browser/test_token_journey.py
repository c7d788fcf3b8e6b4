"""The whole journey of a new administrator, in a real browser, with JavaScript on (htmx dialogs
and partial updates) and off (plain links and form posts): sign in, add a token with a logo and
two modules, read and copy its value, look at every tab, edit its modules, disable, enable,
delete, and find all of it in the audit trail; then an operator sees the deleted token, and a
Member is refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from apitokens.models import ApiToken, TokenStatus
from apitokens.secrets import parse_value
from audit.models import AuditRecord
from tests.browser.conftest import World, png_logo, sign_in
from tests.factories import TokenFactory

pytestmark = pytest.mark.browser

VALUE_RE = re.compile(r"^idt:TKN-\d{4}-\d{4}:[A-Za-z0-9]{64}$")
ACCESS_MANAGEMENT, BILLING, HELPDESK = "MOD-1756", "MOD-4525", "MOD-0478"


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def module_box(page: Any, module_id: str) -> Any:
    return page.locator(f"input[name=modules][value={module_id}]")


def open_menu_and_pick(page: Any, name: str, item: str) -> None:
    page.get_by_label(f"Actions for {name}").click()
    page.locator(".menu-list").get_by_role("link", name=item, exact=True).click()


def tab(page: Any, label: str) -> Any:
    return page.get_by_role("navigation", name="API token sections").get_by_role(
        "link", name=label, exact=True
    )


def clipboard(page: Any) -> str:
    return str(page.evaluate("navigator.clipboard.readText()"))


def add_token(page: Any, tmp_path: Path, *, js: bool) -> tuple[str, str]:
    """The Add wizard from the list page; returns (token id, value)."""
    page.get_by_role("link", name="Add", exact=True).click()
    expect(page.get_by_role("heading", name="Add API token")).to_be_visible()
    if js:
        expect(page.locator("#dialog")).to_be_visible()
    else:
        expect(page).to_have_url(re.compile(r"/settings/api-tokens/add/$"))
    page.get_by_label("Logo").set_input_files(str(png_logo(tmp_path / "robot.png")))
    page.get_by_placeholder("Enter API token name").fill("Journey robot")
    page.get_by_placeholder("Enter description").fill("Syncs orders every night")
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Modules", exact=True)).to_be_visible()
    if js:
        # The search box narrows the list as one types.
        page.get_by_placeholder("Search modules").fill("bill")
        expect(module_box(page, ACCESS_MANAGEMENT)).to_be_hidden()
        module_box(page, BILLING).check()
        page.get_by_placeholder("Search modules").fill("")
    else:
        module_box(page, BILLING).check()
    module_box(page, ACCESS_MANAGEMENT).check()
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    overview = page.locator("dl.overview")
    expect(overview).to_contain_text("Journey robot")
    expect(overview).to_contain_text("Billing")
    expect(overview).to_contain_text("Access Management")
    expect(overview.get_by_role("img", name="Logo")).to_be_visible()
    page.get_by_role("button", name="Add", exact=True).click()

    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    expect(
        page.get_by_text("Click view details below to go to the API token details page.")
    ).to_be_visible()
    value_box = page.locator("#new-token-value")
    expect(value_box).to_be_hidden()
    expect(page.locator(".secret-new .secret-masked")).to_contain_text("****")
    page.locator(".secret-details > summary").click()
    expect(value_box).to_be_visible()
    value = value_box.input_value().strip()  # a readonly field (issue 15)
    assert VALUE_RE.match(value)
    token_id = parse_value(value).token_id
    expect(page.locator(".summary-card")).to_contain_text(token_id)
    if js:
        page.locator(".secret-new").get_by_role("button", name="Copy").click()
        expect(page.locator("#messages")).to_contain_text("Copied to the clipboard.")
        assert clipboard(page) == value
    else:
        expect(page.locator(".secret-new").get_by_role("button", name="Copy")).to_be_hidden()
    return token_id, value


def journey(new_page: Any, world: World, tmp_path: Path, *, js: bool) -> None:
    page = new_page(js=js)
    sign_in(page, world.alice.email)
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()

    token_id, value = add_token(page, tmp_path, js=js)

    # Details page and its four tabs, each with its own URL.
    page.get_by_role("link", name="View details").click()
    expect(page).to_have_url(re.compile(rf"/settings/api-tokens/{token_id}/$"))
    expect(page.get_by_text(f"API token {token_id}")).to_be_visible()
    expect(page.get_by_role("heading", name="Journey robot")).to_contain_text("Active")
    logo = page.locator("img.avatar-large").get_attribute("src")
    assert logo.startswith("/media/logos/")
    fetched = page.request.get(logo)
    assert fetched.status == 200
    assert fetched.headers["content-type"] == "image/png"
    card = page.locator(".info-card")
    expect(card).to_contain_text("Acme Corporation")
    expect(card).to_contain_text(world.acme.public_id)

    tab(page, "Modules").click()
    expect(page).to_have_url(re.compile(r"/modules/$"))
    panel = page.locator("#tab-panel")
    expect(panel).to_contain_text("Billing")
    expect(panel).to_contain_text("Access Management")
    expect(panel).to_contain_text(BILLING)
    tab(page, "Details").click()
    expect(page).to_have_url(re.compile(r"/details/$"))
    expect(panel).to_contain_text("Status history")
    expect(panel).to_contain_text("Alice Admin")
    tab(page, "Audit trail").click()
    expect(page).to_have_url(re.compile(r"/audit/$"))
    expect(panel).to_contain_text("platform.accounts.api_token.created")
    tab(page, "General").click()
    expect(page).to_have_url(re.compile(rf"/{token_id}/$"))
    expect(panel).to_contain_text("Syncs orders every night")

    # The value again, behind Show (the sign-in is recent, so no password prompt).
    page.locator("#token-value").get_by_role("button", name="Show").click()
    revealed = page.locator("#token-value [data-secret-value]")
    expect(revealed).to_have_text(value)
    if js:
        page.locator("#token-value").get_by_role("button", name="Copy").click()
        expect(page.locator("#messages")).to_contain_text("Copied to the clipboard.")
        assert clipboard(page) == value
    page.locator("#token-value").get_by_role("link", name="Hide").click()
    expect(page.locator("#token-value .secret-masked")).to_be_visible()
    expect(page.locator("#token-value")).not_to_contain_text(value)

    # Edit its modules: Billing out, Helpdesk in.
    page.locator(".details-actions").get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit API token")).to_be_visible()
    page.locator(".edit-tabs").get_by_text("Modules", exact=True).click()
    expect(module_box(page, BILLING)).to_be_checked()
    module_box(page, BILLING).uncheck()
    module_box(page, HELPDESK).check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#messages")).to_contain_text("API token Journey robot has been saved.")
    tab(page, "Modules").click()
    expect(panel).to_contain_text("Helpdesk")
    expect(panel).not_to_contain_text("Billing")

    # Disable, then Enable, each confirmed first.
    for action, status in (("Disable", "Disabled"), ("Enable", "Active")):
        open_menu_and_pick(page, "Journey robot", action)
        expect(page.get_by_role("heading", name=f"{action} API token")).to_be_visible()
        page.get_by_role("button", name=action, exact=True).click()
        expect(page.locator("#messages")).to_contain_text(
            f"API token Journey robot has been {status.lower() if action == 'Disable' else 'enabled'}."
        )
        expect(page.get_by_role("heading", name="Journey robot")).to_contain_text(status)

    # The token's own audit trail holds everything so far.
    tab(page, "Audit trail").click()
    for event in ("created", "updated", "status_changed", "value_revealed"):
        expect(panel).to_contain_text(f"platform.accounts.api_token.{event}")
    if js:
        expect(panel).to_contain_text("platform.accounts.api_token.value_copied")

    # Delete, with the dialog that says it cannot be undone.
    open_menu_and_pick(page, "Journey robot", "Delete")
    expect(page.get_by_role("heading", name="Delete API token")).to_be_visible()
    expect(page.get_by_text("cannot be undone")).to_be_visible()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page).to_have_url(re.compile(r"/settings/api-tokens/$"))
    expect(page.locator("#messages")).to_contain_text("API token Journey robot has been deleted.")
    expect(page.locator("#token-table")).not_to_contain_text(token_id)
    assert page.goto(f"/settings/api-tokens/{token_id}/").status == 404

    # The account's audit trail, filtered on the token.
    page.goto("/settings/audit-trail/")
    page.get_by_label("Object ID").fill(token_id)
    page.get_by_role("button", name="Filter").click()
    table = page.locator("#audit-table")
    expect(table).to_contain_text("platform.accounts.api_token.created")
    expect(table).to_contain_text("Active to Deleted")
    expect(table).to_contain_text("Active to Disabled")
    expect(table).to_contain_text("Disabled to Active")
    expect(table).to_contain_text("platform.accounts.api_token.updated")
    expect(table).to_contain_text("platform.accounts.api_token.value_revealed")

    events = list(
        AuditRecord.objects.filter(object_id=token_id)
        .order_by("timestamp", "id")
        .values_list("event_key", "actor_id")
    )
    expected = [
        "created",
        "value_revealed",
        *(["value_copied"] if js else []),
        "updated",
        "status_changed",
        "status_changed",
        "status_changed",
    ]
    assert [e for e, _ in events] == [f"platform.accounts.api_token.{e}" for e in expected]
    assert {actor for _, actor in events} == {world.alice.public_id}
    assert ApiToken.objects.get(public_id=token_id).status == TokenStatus.DELETED

    # An operator picks Acme and sees the deleted token, marked and read-only.
    ops = new_page(js=js)
    sign_in(ops, world.olivia.email)
    ops.get_by_role("link", name="Pick account").click()
    ops.get_by_label("Search accounts").fill("Acme")
    ops.get_by_role("button", name="Search").click()
    ops.get_by_role("button", name="Act on Acme Corporation").click()
    expect(ops.locator(".operator-banner")).to_contain_text("Acme Corporation")
    row = ops.locator(f"#token-{token_id}")
    expect(row).to_contain_text("Deleted")
    expect(row.get_by_label("Actions for Journey robot")).to_have_count(0)
    row.get_by_role("link", name="Journey robot").click()
    expect(ops.get_by_text("Deleted: read-only.")).to_be_visible()
    expect(ops.locator(".details-actions")).to_have_count(0)

    # A Member of Acme starts on the page that says what they may do, and is refused, clearly.
    member = new_page(js=js)
    sign_in(member, world.bob.email)
    expect(member.get_by_role("heading", name="Your access to Acme Corporation")).to_be_visible()
    member.goto("/settings/api-tokens/")
    expect(
        member.get_by_role("heading", name="You do not have access to this page")
    ).to_be_visible()
    assert member.goto("/settings/audit-trail/").status == 403


def test_the_journey_with_javascript(new_page: Any, world: World, tmp_path: Path) -> None:
    journey(new_page, world, tmp_path, js=True)


def test_the_journey_without_javascript(new_page: Any, world: World, tmp_path: Path) -> None:
    journey(new_page, world, tmp_path, js=False)


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_an_operator_acts_on_another_account_and_is_the_actor(
    new_page: Any, world: World, js: bool
) -> None:
    token = TokenFactory(account=world.acme, name="Partner feed")
    page = new_page(js=js)
    sign_in(page, world.olivia.email)
    page.goto("/account/pick/?q=Acme")
    page.get_by_role("button", name="Act on Acme Corporation").click()
    open_menu_and_pick(page, "Partner feed", "Disable")
    page.get_by_role("button", name="Disable", exact=True).click()
    expect(page.locator(f"#token-{token.public_id}")).to_contain_text("Disabled")
    last = AuditRecord.objects.filter(object_id=token.public_id).order_by("-id").first()
    assert last is not None
    assert last.event_key == "platform.accounts.api_token.status_changed"
    assert (last.actor_id, last.account_id) == (world.olivia.public_id, world.acme.public_id)


def test_a_wrong_logo_is_refused_next_to_its_field(
    new_page: Any, world: World, tmp_path: Path
) -> None:
    page = new_page(js=True)
    sign_in(page, world.alice.email)
    page.get_by_role("link", name="Add", exact=True).click()
    fake = tmp_path / "logo.png"
    fake.write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    page.get_by_label("Logo").set_input_files(str(fake))
    page.get_by_placeholder("Enter API token name").fill("Robot")
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".field.has-error")).to_contain_text("not a valid .jpg or .png image")
    expect(page.get_by_role("heading", name="General")).to_be_visible()
    assert not ApiToken.objects.filter(account=world.acme).exists()
