"""Screenshots of the pages and dialogs the README shows: every one at 1440 px, and at 375 px
the pages whose layout changes on a phone (the list, the audit trail, the wizard's Summary).

`make screenshots` runs this with ``SCREENSHOTS_DIR=docs/screenshots`` (the pictures the README
shows); in the normal suite it writes to a temporary folder, so the code that makes them is
exercised on every run and cannot rot. Each shot first checks (``expect``) that the page shows
the state the picture is meant to show.
"""

from __future__ import annotations

import os
import struct
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apitokens import services, usage, value_rotation
from audit.types import Actor
from tests.browser.conftest import World, png_logo, sign_in
from tests.factories import TokenFactory

pytestmark = pytest.mark.browser

DESKTOP, MOBILE = 1440, 375
# Blank a shown value before the shot: a picture must not carry a real value.
BLANK_VALUE = "el => el.value = el.value.slice(0, 18) + 'x'.repeat(64)"


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def png_width(path: Path) -> int:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return int(struct.unpack(">I", header[16:20])[0])


def showcase(world: World) -> str:
    """A small, believable account: tokens in every status, one expiring in 3 days (the
    banner), one without an expiry, and CRM sync edited, disabled, enabled and rotated with
    its previous value still working (the Rotation row, the audit trail's diffs)."""
    actor = Actor(id=world.alice.public_id, name=world.alice.name, type="User")
    now = timezone.now()
    crm = TokenFactory(
        account=world.acme,
        name="CRM sync",
        description="Nightly customer sync from Dynamics",
        modules=["MOD-1756", "MOD-9042"],
        expires_at=now + timedelta(days=90),
        actor=actor,
    )
    TokenFactory(
        account=world.acme,
        name="CI pipeline",
        modules=["MOD-1425"],
        expires_at=now + timedelta(days=60),
        actor=actor,
    )
    TokenFactory(account=world.acme, name="Billing export", modules=["MOD-4525"], actor=actor)
    TokenFactory(
        account=world.acme,
        name="Helpdesk bot",
        modules=["MOD-0478"],
        expires_at=now + timedelta(days=3),
        actor=actor,
    )
    TokenFactory(account=world.acme, name="Old integration", disabled=True, actor=actor)
    services.update_token(
        token=crm,
        actor=actor,
        description="Nightly customer sync (v2)",
        expires_at=now + timedelta(days=120),
    )
    services.disable_token(token=crm, actor=actor)
    services.enable_token(token=crm, actor=actor)
    value_rotation.rotate_token(token=crm, grace_seconds=24 * 3600, actor=actor)
    # A month of use from two addresses, a few refused attempts (issue 17's Usage tab).
    for day in range(30):
        for n in range(20 + (day * 7) % 23):
            address = "198.51.100.14" if n % 3 else "2001:db8::2a"
            usage.buffer().note(
                crm.pk, address, "crm-sync/2.4", now - timedelta(days=day), refused=False
            )
        if day % 6 == 2:
            usage.buffer().note(crm.pk, "", "", now - timedelta(days=day), refused=True)
    usage.flush(crm.pk)
    return str(crm.public_id)


def images_in(page: Any) -> None:
    """Wait until every picture on the page has arrived. (Not ``wait_for_function``: its
    string form needs the eval the Content-Security-Policy refuses.)"""
    loaded = "[...document.images].every(i => i.complete && i.naturalWidth > 0)"
    for _ in range(100):
        if page.evaluate(loaded):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"an image did not load on {page.url}")


def shoot(page: Any, folder: Path, name: str, *, full: bool = True) -> Path:
    page.wait_for_load_state("networkidle")
    # Every picture on the page has arrived (the Overview's logo did not always, at first).
    images_in(page)
    # No focus ring from the last field typed in.
    page.evaluate("document.activeElement && document.activeElement.blur()")
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full, animations="disabled")
    return path


def open_dialog(page: Any, opener: Any) -> Any:
    opener.click()
    dialog = page.locator("#dialog")
    expect(dialog).to_be_visible()
    return dialog


def open_row_action(page: Any, token: str, item: str) -> Any:
    page.goto("/settings/api-tokens/")
    page.get_by_label(f"Actions for {token}").click()
    return open_dialog(page, page.locator(".menu-list").get_by_role("link", name=item, exact=True))


def show_new_value(page: Any) -> None:
    page.locator(".secret-new").get_by_text("Show", exact=True).click()
    field = page.locator("#new-token-value")
    expect(field).to_be_visible()
    field.evaluate(BLANK_VALUE)


def list_and_audit(page: Any, folder: Path, audit_url: str) -> list[Path]:
    """The list with its Expires column and the banner; the audit trail with its diffs."""
    page.goto("/settings/api-tokens/")
    expect(page.locator(".banner-warning")).to_contain_text("Helpdesk bot")
    expect(page.locator("th", has_text="Expires")).to_have_count(1)
    shots = [shoot(page, folder, "tokens")]
    page.goto(audit_url)
    diff = page.locator("#audit-table dl.diff").filter(has_text="Nightly customer sync (v2)")
    expect(diff).to_be_visible()
    shots.append(shoot(page, folder, "audit-trail"))
    return shots


def add_to_summary(page: Any, folder: Path, name: str, *, steps: bool) -> list[Path]:
    """The Add wizard from General to its Summary; ``steps`` shoots every step on the way."""
    shots: list[Path] = []
    page.goto("/settings/api-tokens/")
    open_dialog(page, page.get_by_role("link", name="Add", exact=True))
    if steps:
        page.get_by_label("Logo").set_input_files(str(png_logo(folder / "logo.tmp.png")))
    page.get_by_placeholder("Enter API token name").fill(name)
    page.get_by_placeholder("Enter description").fill("Orders from the partner portal")
    expect(page.get_by_label("Expiration")).to_have_value("30")
    if steps:
        shots.append(shoot(page, folder, "add-general", full=False))
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Modules", exact=True)).to_be_visible()
    page.locator("input[name=modules][value=MOD-1756]").check()
    page.locator("input[name=modules][value=MOD-1425]").check()
    if steps:
        shots.append(shoot(page, folder, "add-modules", full=False))
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    if steps:
        shots.append(shoot(page, folder, "add-overview", full=False))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    show_new_value(page)
    shots.append(shoot(page, folder, "add-summary", full=False))
    page.keyboard.press("Escape")
    (folder / "logo.tmp.png").unlink(missing_ok=True)
    return shots


def token_pages(page: Any, folder: Path, token_id: str) -> list[Path]:
    """The row menu, Edit and Delete, the details page with an expiry and a rotation in
    progress, its value shown, and its audit tab."""
    page.goto("/settings/api-tokens/")
    page.get_by_label("Actions for CRM sync").click()
    expect(page.locator(".menu-list").get_by_role("link", name="Rotate")).to_be_visible()
    # The last row's menu is whole: .table-wrap clips (it scrolls sideways), so it opens up.
    last = page.locator(".menu-list").get_by_role("link", name="Delete").bounding_box()
    table = page.locator("#token-table").bounding_box()
    assert last["y"] + last["height"] <= table["y"] + table["height"], (last, table)
    shots = [shoot(page, folder, "tokens-menu", full=False)]
    for item, name in (("Edit", "edit"), ("Delete", "confirm-delete")):
        open_row_action(page, "CRM sync", item)
        shots.append(shoot(page, folder, name, full=False))
        page.keyboard.press("Escape")

    page.goto(f"/settings/api-tokens/{token_id}/")
    expect(page.locator("dt", has_text="Expires")).to_be_visible()
    expect(page.locator("dd", has_text="The previous value works until")).to_be_visible()
    shots.append(shoot(page, folder, "details-general"))
    page.locator("#token-value").get_by_role("button", name="Show").click()
    expect(page.locator("#token-value [data-secret-value]")).to_be_visible()
    page.locator("#token-value [data-secret-value]").evaluate(
        "el => el.textContent = el.textContent.slice(0, 18) + 'x'.repeat(64)"
    )
    shots.append(shoot(page, folder, "details-value-shown", full=False))
    page.goto(f"/settings/api-tokens/{token_id}/audit/")
    expect(page.locator("main")).to_contain_text("platform.accounts.api_token.rotated")
    shots.append(shoot(page, folder, "details-audit"))
    page.goto(f"/settings/api-tokens/{token_id}/usage/")
    expect(page.get_by_role("img", name="Requests in the last 30 days")).to_be_visible()
    expect(page.locator("figcaption")).to_contain_text("the busiest day was")
    shots.append(shoot(page, folder, "details-usage"))
    return shots


def lifetime_pages(page: Any, folder: Path) -> list[Path]:
    """Rotate CI pipeline with a grace period, the value shown once; then a policy set."""
    dialog = open_row_action(page, "CI pipeline", "Rotate")
    page.get_by_label("After 24 hours").check()
    expect(dialog.get_by_role("heading", name="Rotate API token")).to_be_visible()
    shots = [shoot(page, folder, "rotate", full=False)]
    page.get_by_role("button", name="Rotate", exact=True).click()
    expect(dialog.get_by_role("heading", name="API token rotated")).to_be_visible()
    show_new_value(page)
    expect(dialog.locator(".props")).to_contain_text("works until")
    shots.append(shoot(page, folder, "rotated", full=False))
    page.keyboard.press("Escape")

    page.goto("/settings/api-tokens/policy/")
    page.get_by_label("Maximum lifetime (days)").fill("90")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Last changed")).to_contain_text("Alice Admin")
    expect(page.locator(".plain-list")).to_contain_text("Billing export")
    shots.append(shoot(page, folder, "policy"))
    return shots


def audit_record(page: Any, folder: Path) -> list[Path]:
    page.goto("/settings/audit-trail/")
    row = page.locator("#audit-table tr[id^=record-]").filter(has_text="Nightly customer sync (v2)")
    dialog = open_dialog(page, row.get_by_role("link", name="View details"))
    expect(dialog.locator("dl.diff")).to_contain_text("Nightly customer sync (v2)")
    return [shoot(page, folder, "audit-record", full=False)]


def desktop(new_page: Any, world: World, token_id: str, folder: Path) -> list[Path]:
    page = new_page(js=True, width=DESKTOP)
    page.goto("/signin/")
    shots = [shoot(page, folder, "sign-in")]
    sign_in(page, world.alice.email)
    shots += list_and_audit(page, folder, "/settings/audit-trail/")
    shots += audit_record(page, folder)
    shots += add_to_summary(page, folder, "Partner feed", steps=True)
    shots += token_pages(page, folder, token_id)
    shots += lifetime_pages(page, folder)

    ops = new_page(js=True, width=DESKTOP)
    sign_in(ops, world.olivia.email)
    ops.goto("/account/pick/")
    ops.get_by_role("button", name="Act on Acme Corporation").click()
    expect(ops.locator("tr.is-deleted")).to_have_count(1)
    shots.append(shoot(ops, folder, "operations-tokens"))

    member = new_page(js=True, width=DESKTOP)
    sign_in(member, world.bob.email)
    member.goto("/settings/api-tokens/")
    shots.append(shoot(member, folder, "forbidden"))
    return shots


def mobile(new_page: Any, world: World, token_id: str, folder: Path) -> list[Path]:
    page = new_page(js=True, width=MOBILE)
    sign_in(page, world.alice.email)
    # One token's records: at 375 px each is a card, and the whole trail would be metres long.
    shots = list_and_audit(page, folder, f"/settings/audit-trail/?object={token_id}")
    shots += add_to_summary(page, folder, "Mobile partner feed", steps=False)
    return shots


def test_screenshots_of_the_pages_the_readme_shows(
    new_page: Any, world: World, tmp_path: Path
) -> None:
    target = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path / "screenshots")
    token_id = showcase(world)
    # The deleted token an operator sees marked.
    TokenFactory(account=world.acme, name="Leaked test key", deleted=True)
    expected = {
        DESKTOP: (
            "sign-in tokens audit-trail audit-record add-general add-modules add-overview "
            "add-summary tokens-menu edit confirm-delete details-general details-value-shown "
            "details-audit details-usage rotate rotated policy operations-tokens forbidden"
        ),
        MOBILE: "tokens audit-trail add-summary",
    }
    for width, folder in ((DESKTOP, target / "desktop"), (MOBILE, target / "mobile")):
        folder.mkdir(parents=True, exist_ok=True)
        if width == DESKTOP:
            shots = desktop(new_page, world, token_id, folder)
        else:
            shots = mobile(new_page, world, token_id, folder)
        assert [shot.stem for shot in shots] == expected[width].split()
        for shot in shots:
            assert shot.stat().st_size > 5_000, shot
            assert png_width(shot) == width, shot
