"""Screenshots of every page and dialog at 1440 px and 375 px.

`make screenshots` runs this with ``SCREENSHOTS_DIR=docs/screenshots`` (the pictures the README
shows); in the normal suite it writes to a temporary folder, so the code that makes them is
exercised on every run and cannot rot.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pytest

from apitokens import services
from audit.types import Actor
from tests.browser.conftest import World, png_logo, sign_in
from tests.factories import TokenFactory

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": 1440, "mobile": 375}


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def png_width(path: Path) -> int:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return int(struct.unpack(">I", header[16:20])[0])


def showcase(world: World, tmp_path: Path) -> str:
    """A small, believable account: a few tokens in every status, one with a logo."""
    actor = Actor(id=world.alice.public_id, name=world.alice.name, type="User")
    crm = TokenFactory(
        account=world.acme,
        name="CRM sync",
        description="Nightly customer sync from Dynamics",
        modules=["MOD-1756", "MOD-9042"],
        actor=actor,
    )
    TokenFactory(account=world.acme, name="CI pipeline", modules=["MOD-1425"], actor=actor)
    TokenFactory(account=world.acme, name="Billing export", modules=["MOD-4525"], actor=actor)
    TokenFactory(account=world.acme, name="Helpdesk bot", modules=["MOD-0478"], actor=actor)
    TokenFactory(account=world.acme, name="Old integration", disabled=True, actor=actor)
    services.update_token(token=crm, actor=actor, description="Nightly customer sync (v2)")
    services.disable_token(token=crm, actor=actor)
    services.enable_token(token=crm, actor=actor)
    del tmp_path
    return str(crm.public_id)


def shoot(page: Any, folder: Path, name: str, *, full: bool = True) -> Path:
    page.wait_for_load_state("networkidle")
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full, animations="disabled")
    return path


def open_dialog(page: Any, opener: Any) -> None:
    opener.click()
    expect(page.locator("#dialog")).to_be_visible()


def take_all(new_page: Any, world: World, token_id: str, folder: Path, width: int) -> list[Path]:
    shots: list[Path] = []
    page = new_page(js=True, width=width)
    page.goto("/signin/")
    shots.append(shoot(page, folder, "sign-in"))
    sign_in(page, world.alice.email)
    shots.append(shoot(page, folder, "tokens"))

    open_dialog(page, page.get_by_role("link", name="Add", exact=True))
    page.get_by_label("Logo").set_input_files(str(png_logo(folder / "logo.tmp.png")))
    page.get_by_placeholder("Enter API token name").fill("Partner feed")
    page.get_by_placeholder("Enter description").fill("Orders from the partner portal")
    shots.append(shoot(page, folder, "add-general", full=False))
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Modules", exact=True)).to_be_visible()
    page.locator("input[name=modules][value=MOD-1756]").check()
    page.locator("input[name=modules][value=MOD-1425]").check()
    shots.append(shoot(page, folder, "add-modules", full=False))
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    shots.append(shoot(page, folder, "add-overview", full=False))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("This API token has been created successfully.")).to_be_visible()
    shots.append(shoot(page, folder, "add-summary", full=False))
    page.keyboard.press("Escape")
    (folder / "logo.tmp.png").unlink()

    page.goto("/settings/api-tokens/")
    page.get_by_label("Actions for CRM sync").click()
    shots.append(shoot(page, folder, "tokens-menu", full=False))
    for item, name in (
        ("Edit", "edit"),
        ("Disable", "confirm-disable"),
        ("Delete", "confirm-delete"),
    ):
        page.goto("/settings/api-tokens/")
        page.get_by_label("Actions for CRM sync").click()
        open_dialog(page, page.locator(".menu-list").get_by_role("link", name=item, exact=True))
        shots.append(shoot(page, folder, name, full=False))
        page.keyboard.press("Escape")

    for suffix, name in (
        ("", "details-general"),
        ("modules/", "details-modules"),
        ("details/", "details-details"),
        ("audit/", "details-audit"),
    ):
        page.goto(f"/settings/api-tokens/{token_id}/{suffix}")
        shots.append(shoot(page, folder, name))
    page.goto(f"/settings/api-tokens/{token_id}/")
    page.locator("#token-value").get_by_role("button", name="Show").click()
    expect(page.locator("#token-value [data-secret-value]")).to_be_visible()
    # The picture must not carry a real value: blank it before the shot.
    page.locator("#token-value [data-secret-value]").evaluate(
        "el => el.textContent = el.textContent.slice(0, 18) + 'x'.repeat(64)"
    )
    shots.append(shoot(page, folder, "details-value-shown", full=False))

    page.goto("/settings/audit-trail/")
    shots.append(shoot(page, folder, "audit-trail"))
    open_dialog(page, page.get_by_role("link", name="View details").first)
    shots.append(shoot(page, folder, "audit-record", full=False))

    ops = new_page(js=True, width=width)
    sign_in(ops, world.olivia.email)
    ops.goto("/account/pick/")
    shots.append(shoot(ops, folder, "operations-pick-account"))
    ops.get_by_role("button", name="Act on Acme Corporation").click()
    shots.append(shoot(ops, folder, "operations-tokens"))

    member = new_page(js=True, width=width)
    sign_in(member, world.bob.email)
    member.goto("/settings/api-tokens/")
    shots.append(shoot(member, folder, "forbidden"))
    return shots


def test_screenshots_of_every_page_and_dialog(new_page: Any, world: World, tmp_path: Path) -> None:
    target = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path / "screenshots")
    token_id = showcase(world, tmp_path)
    # The deleted token an operator sees marked.
    TokenFactory(account=world.acme, name="Leaked test key", deleted=True)
    for label, width in WIDTHS.items():
        folder = target / label
        folder.mkdir(parents=True, exist_ok=True)
        shots = take_all(new_page, world, token_id, folder, width)
        assert len(shots) == 20
        for shot in shots:
            assert shot.stat().st_size > 5_000, shot
            assert png_width(shot) == width, shot
