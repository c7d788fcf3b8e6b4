"""The whole journey of a new administrator, in a real browser, three ways: JavaScript on at
1440 px (htmx dialogs and partial updates), JavaScript off at 1440 px (plain links and form
posts) and JavaScript on at 320 px (the phone layout: the account menu holds Pick account, the
audit trail is cards): sign in, add a token with a logo and two modules, read and copy its value,
look at every tab, edit its modules, disable, enable, delete, and find all of it in the audit
trail; then an operator sees the deleted token, and a Member is refused. axe looks at every page
and every open dialog, menu and wizard step on the way and finds nothing, of any impact."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from apitokens.models import ApiToken, TokenStatus
from apitokens.secrets import parse_value
from audit.models import AuditRecord
from tests.browser.axe import block_page_scripts, violations
from tests.browser.conftest import PASSWORD, World, png_logo, sign_in
from tests.factories import TokenFactory

pytestmark = pytest.mark.browser

VALUE_RE = re.compile(r"^idt:TKN-\d{4}-\d{4}:[A-Za-z0-9]{64}$")
ACCESS_MANAGEMENT, BILLING, HELPDESK = "MOD-1756", "MOD-4525", "MOD-0478"
# The header's narrow layout (app.css): Pick account moves into the account menu.
NARROW_PX = 760
# Below this the audit trail's records are cards (app.css).
AUDIT_CARDS_PX = 1199


@dataclass(frozen=True)
class Way:
    """One way through the journey: JavaScript on or off, and the window's size."""

    name: str
    js: bool
    width: int
    height: int

    @property
    def narrow(self) -> bool:
        return self.width <= NARROW_PX


WAYS = [
    Way("js-1440", js=True, width=1440, height=900),
    Way("no-js-1440", js=False, width=1440, height=900),
    Way("js-320", js=True, width=320, height=640),
]


@dataclass
class Looks:
    """axe on each state the journey reaches, its findings kept to fail on at the end (so one
    run lists them all)."""

    way: Way
    problems: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def __call__(self, page: Any, where: str, *, skip: dict[str, str] | None = None) -> None:
        # A page that is still loading (its stylesheet, say) would make the colours axe reads
        # depend on timing; htmx swaps are over once the caller's expect() saw the new content.
        page.wait_for_load_state("load")
        if not self.way.js:
            # What makes blocking the page's scripts the same as JavaScript off (open_page).
            assert page.locator("script:not([src]), noscript").count() == 0, where
        self.seen.append(where)
        self.problems += violations(page, f"{self.way.name}, {where}", skip=skip)
        if page.evaluate(
            "document.documentElement.scrollWidth > document.documentElement.clientWidth"
        ):
            self.problems.append(f"{self.way.name}, {where}: the page scrolls sideways")


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def open_page(new_page: Any, way: Way) -> Any:
    page = new_page(js=True, width=way.width, height=way.height)
    if not way.js:
        # axe is a script in the page and hangs in a context with JavaScript disabled, so
        # "JavaScript off" is the page's own scripts (htmx, app.js) never loading; the pages
        # have no inline script and no <noscript>, so they draw as without JavaScript.
        block_page_scripts(page)
    return page


def scripts_ran(page: Any) -> bool:
    return bool(page.evaluate("typeof window.htmx !== 'undefined'"))


def module_box(page: Any, module_id: str) -> Any:
    return page.locator(f"input[name=modules][value={module_id}]")


def open_actions(page: Any, name: str) -> None:
    page.get_by_label(f"Actions for {name}").click()
    expect(page.locator(".menu-list").first).to_be_visible()


def open_menu_and_pick(page: Any, name: str, item: str) -> None:
    open_actions(page, name)
    page.locator(".menu-list").get_by_role("link", name=item, exact=True).click()


def open_account_menu(page: Any) -> Any:
    page.locator(".account-menu > summary").click()
    panel = page.locator(".account-menu-panel")
    expect(panel).to_be_visible()
    return panel


def close_account_menu(page: Any) -> None:
    page.locator(".account-menu > summary").click()
    expect(page.locator(".account-menu-panel")).to_be_hidden()


def tab(page: Any, label: str) -> Any:
    return page.get_by_role("navigation", name="API token sections").get_by_role(
        "link", name=label, exact=True
    )


def clipboard(page: Any) -> str:
    return str(page.evaluate("navigator.clipboard.readText()"))


def add_token(page: Any, tmp_path: Path, way: Way, look: Looks) -> tuple[str, str]:
    """The Add wizard from the list page; returns (token id, value)."""
    js = way.js
    page.get_by_role("link", name="Add", exact=True).click()
    expect(page.get_by_role("heading", name="Add API token")).to_be_visible()
    if js:
        expect(page.locator("#dialog")).to_be_visible()
    else:
        expect(page).to_have_url(re.compile(r"/settings/api-tokens/add/$"))
    expect(page.get_by_role("heading", name="General", exact=True)).to_be_visible()
    look(page, "add: general")
    page.get_by_label("Logo").set_input_files(str(png_logo(tmp_path / "robot.png")))
    page.get_by_placeholder("Enter API token name").fill("Journey robot")
    page.get_by_placeholder("Enter description").fill("Syncs orders every night")
    look(page, "add: general, filled in")
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Modules", exact=True)).to_be_visible()
    look(page, "add: modules, none ticked")
    if js:
        # The search box narrows the list as one types.
        page.get_by_placeholder("Search modules").fill("bill")
        expect(module_box(page, ACCESS_MANAGEMENT)).to_be_hidden()
        look(page, "add: modules, searched")
        module_box(page, BILLING).check()
        page.get_by_placeholder("Search modules").fill("")
        expect(module_box(page, ACCESS_MANAGEMENT)).to_be_visible()
    else:
        module_box(page, BILLING).check()
    module_box(page, ACCESS_MANAGEMENT).check()
    look(page, "add: modules, two ticked")
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    overview = page.locator("dl.overview")
    expect(overview).to_contain_text("Journey robot")
    expect(overview).to_contain_text("Billing")
    expect(overview).to_contain_text("Access Management")
    expect(overview.get_by_role("img", name="Logo")).to_be_visible()
    look(page, "add: overview")
    page.get_by_role("button", name="Add", exact=True).click()

    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    expect(
        page.get_by_text("Click view details below to go to the API token details page.")
    ).to_be_visible()
    value_box = page.locator("#new-token-value")
    expect(value_box).to_be_hidden()
    expect(page.locator(".secret-new .secret-masked")).to_contain_text("****")
    look(page, "add: summary")
    page.locator(".secret-details > summary").click()
    expect(value_box).to_be_visible()
    value = value_box.input_value().strip()  # a readonly field (issue 15)
    assert VALUE_RE.match(value)
    token_id = parse_value(value).token_id
    expect(page.locator(".summary-card")).to_contain_text(token_id)
    look(page, "add: summary, value shown")
    if js:
        page.locator(".secret-new").get_by_role("button", name="Copy").click()
        expect(page.locator("#messages")).to_contain_text("Copied to the clipboard.")
        assert clipboard(page) == value
        look(page, "add: summary, value copied")
    else:
        expect(page.locator(".secret-new").get_by_role("button", name="Copy")).to_be_hidden()
    return token_id, value


def journey(new_page: Any, world: World, tmp_path: Path, way: Way) -> Looks:
    js = way.js
    look = Looks(way)
    page = open_page(new_page, way)
    page.goto("/signin/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert scripts_ran(page) is js
    look(page, "sign-in")
    sign_in(page, world.alice.email)
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    look(page, "token list, empty")
    open_account_menu(page)
    look(page, "token list, account menu open")
    close_account_menu(page)

    token_id, value = add_token(page, tmp_path, way, look)

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
    look(page, "details: general")

    tab(page, "Modules").click()
    expect(page).to_have_url(re.compile(r"/modules/$"))
    panel = page.locator("#tab-panel")
    expect(panel).to_contain_text("Billing")
    expect(panel).to_contain_text("Access Management")
    expect(panel).to_contain_text(BILLING)
    look(page, "details: modules")
    tab(page, "Details").click()
    expect(page).to_have_url(re.compile(r"/details/$"))
    expect(panel).to_contain_text("Status history")
    expect(panel).to_contain_text("Alice Admin")
    look(page, "details: details")
    tab(page, "Audit trail").click()
    expect(page).to_have_url(re.compile(r"/audit/$"))
    expect(panel).to_contain_text("platform.accounts.api_token.created")
    look(page, "details: audit trail")
    tab(page, "General").click()
    expect(page).to_have_url(re.compile(rf"/{token_id}/$"))
    expect(panel).to_contain_text("Syncs orders every night")

    # The value again, behind Show (the sign-in is recent, so no password prompt).
    page.locator("#token-value").get_by_role("button", name="Show").click()
    revealed = page.locator("#token-value [data-secret-value]")
    expect(revealed).to_have_text(value)
    look(page, "details: value shown")
    if js:
        page.locator("#token-value").get_by_role("button", name="Copy").click()
        expect(page.locator("#messages")).to_contain_text("Copied to the clipboard.")
        assert clipboard(page) == value
    page.locator("#token-value").get_by_role("link", name="Hide").click()
    expect(page.locator("#token-value .secret-masked")).to_be_visible()
    expect(page.locator("#token-value")).not_to_contain_text(value)

    # The actions menu, open.
    open_actions(page, "Journey robot")
    look(page, "details: actions menu open")
    page.get_by_label("Actions for Journey robot").click()
    expect(page.locator(".menu-list")).to_be_hidden()

    # Edit its modules: Billing out, Helpdesk in.
    page.locator(".details-actions").get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit API token")).to_be_visible()
    look(page, "edit: general")
    page.locator(".edit-tabs").get_by_text("Modules", exact=True).click()
    expect(module_box(page, BILLING)).to_be_checked()
    expect(module_box(page, BILLING)).to_be_visible()
    look(page, "edit: modules")
    module_box(page, BILLING).uncheck()
    module_box(page, HELPDESK).check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#messages")).to_contain_text("API token Journey robot has been saved.")
    look(page, "details: saved")
    tab(page, "Modules").click()
    expect(panel).to_contain_text("Helpdesk")
    expect(panel).not_to_contain_text("Billing")

    # Disable, then Enable, each confirmed first.
    for action, status in (("Disable", "Disabled"), ("Enable", "Active")):
        open_menu_and_pick(page, "Journey robot", action)
        expect(page.get_by_role("heading", name=f"{action} API token")).to_be_visible()
        look(page, f"{action.lower()} dialog")
        page.get_by_role("button", name=action, exact=True).click()
        expect(page.locator("#messages")).to_contain_text(
            f"API token Journey robot has been {status.lower() if action == 'Disable' else 'enabled'}."
        )
        expect(page.get_by_role("heading", name="Journey robot")).to_contain_text(status)
        look(page, f"details: {status.lower()}")

    # The token's own audit trail holds everything so far.
    tab(page, "Audit trail").click()
    for event in ("created", "updated", "status_changed", "value_revealed"):
        expect(panel).to_contain_text(f"platform.accounts.api_token.{event}")
    if js:
        expect(panel).to_contain_text("platform.accounts.api_token.value_copied")
    look(page, "details: audit trail, every event")

    # Delete, with the dialog that says it cannot be undone.
    open_menu_and_pick(page, "Journey robot", "Delete")
    expect(page.get_by_role("heading", name="Delete API token")).to_be_visible()
    expect(page.get_by_text("cannot be undone")).to_be_visible()
    look(page, "delete dialog")
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page).to_have_url(re.compile(r"/settings/api-tokens/$"))
    expect(page.locator("#messages")).to_contain_text("API token Journey robot has been deleted.")
    expect(page.locator("#token-table")).not_to_contain_text(token_id)
    look(page, "token list after the delete")
    assert page.goto(f"/settings/api-tokens/{token_id}/").status == 404
    look(page, "the deleted token's page (404)")

    # The account's audit trail, filtered on the token.
    page.goto("/settings/audit-trail/")
    expect(page.locator("#audit-table")).to_be_visible()
    cards = way.width <= AUDIT_CARDS_PX
    first_record = page.locator("#audit-table tbody tr").first
    expect(first_record).to_have_css("display", "grid" if cards else "table-row")
    look(page, "audit trail")
    page.get_by_label("Object ID").fill(token_id)
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"[?&]object={token_id}(&|$)"))
    table = page.locator("#audit-table")
    expect(table).to_contain_text("platform.accounts.api_token.created")
    expect(table).to_contain_text("Active to Deleted")
    expect(table).to_contain_text("Active to Disabled")
    expect(table).to_contain_text("Disabled to Active")
    expect(table).to_contain_text("platform.accounts.api_token.updated")
    expect(table).to_contain_text("platform.accounts.api_token.value_revealed")
    look(page, "audit trail, filtered on the token")

    # One record, in its dialog (a page of its own without JavaScript).
    table.get_by_role("link", name=re.compile(r"^View details : API token created")).click()
    record = page.locator(".record-dialog")
    expect(record).to_be_visible()
    expect(record).to_contain_text(token_id)
    look(page, "audit record")
    if js:
        page.keyboard.press("Escape")
        expect(page.locator("#dialog")).to_be_hidden()

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

    # An operator picks Acme and sees the deleted token, marked and read-only. On a phone Pick
    # account is in the account menu.
    ops = open_page(new_page, way)
    sign_in(ops, world.olivia.email)
    expect(ops.locator("main h1")).to_be_visible()
    look(ops, "operator's first page")
    if way.narrow:
        expect(ops.locator(".pick-account-wide")).to_be_hidden()
        menu = open_account_menu(ops)
        look(ops, "operator's first page, account menu open")
        menu.get_by_role("link", name="Pick account").click()
    else:
        ops.get_by_role("link", name="Pick account").click()
    expect(ops.get_by_label("Search accounts")).to_be_visible()
    look(ops, "account picker")
    ops.get_by_label("Search accounts").fill("Acme")
    ops.get_by_role("button", name="Search").click()
    expect(ops.get_by_role("button", name="Act on Acme Corporation")).to_be_visible()
    look(ops, "account picker, searched")
    ops.get_by_role("button", name="Act on Acme Corporation").click()
    expect(ops.locator(".operator-banner")).to_contain_text("Acme Corporation")
    row = ops.locator(f"#token-{token_id}")
    expect(row).to_contain_text("Deleted")
    expect(row.get_by_label("Actions for Journey robot")).to_have_count(0)
    look(ops, "token list on Acme, as an operator")
    row.get_by_role("link", name="Journey robot").click()
    expect(ops.get_by_text("Deleted: read-only.")).to_be_visible()
    expect(ops.locator(".details-actions")).to_have_count(0)
    look(ops, "the deleted token, as an operator")

    # A Member of Acme starts on the page that says what they may do, and is refused, clearly.
    member = open_page(new_page, way)
    sign_in(member, world.bob.email, PASSWORD)
    expect(member.get_by_role("heading", name="Your access to Acme Corporation")).to_be_visible()
    look(member, "member's access page")
    member.goto("/settings/api-tokens/")
    expect(
        member.get_by_role("heading", name="You do not have access to this page")
    ).to_be_visible()
    look(member, "member refused (403)")
    assert member.goto("/settings/audit-trail/").status == 403
    return look


@pytest.mark.parametrize("way", WAYS, ids=[way.name for way in WAYS])
def test_the_journey_and_axe_on_every_state(
    new_page: Any, world: World, tmp_path: Path, way: Way
) -> None:
    look = journey(new_page, world, tmp_path, way)
    assert len(look.seen) >= 30, look.seen
    assert look.problems == []


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
    assert violations(page, "add: general, the logo refused") == []
    assert not ApiToken.objects.filter(account=world.acme).exists()
