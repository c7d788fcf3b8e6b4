"""Browser tests: the live HTTPS server (gunicorn, as `make run` serves it) driven by Debian's
Chromium through Playwright for Python.

The server reads the test database, so every test here commits its data (``transactional_db``)
and pytest-django empties the tables afterwards. Without Chromium or Playwright the tests are
skipped with the reason, unless ``REQUIRE_BROWSER=1`` (as in CI) makes that a failure.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from accounts.models import Account, Role, User
from tests.browser import chromium
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.live import LiveServer, https_server

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are still plain synchronous calls, which Django would otherwise refuse.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "a long demo passphrase"
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"


def _require_browser() -> None:
    reason = chromium.missing_reason()
    if reason is None:
        return
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def live(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    _require_browser()
    folder = tmp_path_factory.mktemp("browser-server")
    with https_server(folder, MEDIA_ROOT=str(folder / "media")) as server:
        yield server


@pytest.fixture(scope="session")
def browser(live: LiveServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = chromium.launch(playwright)
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Any, live: LiveServer) -> Iterator[Any]:
    """``new_page(js=True, width=1440)``: a fresh browser context (no cookies) and its page."""
    contexts: list[Any] = []

    def make(*, js: bool = True, width: int = 1440, height: int = 900) -> Any:
        context = browser.new_context(
            base_url=live.url,
            ignore_https_errors=True,
            java_script_enabled=js,
            viewport={"width": width, "height": height},
            timezone_id="Europe/Berlin",
        )
        if js:
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "pageerror",
            lambda error: errors.append(f"page error: {error} at {page.url} {error.stack}"),
        )
        page.on(
            "console",
            lambda message: (
                errors.append(f"console: {message.text}")
                if message.type == "error"
                and not message.text.startswith("Failed to load resource")
                else None
            ),
        )
        return page

    # Script errors and Content-Security-Policy refusals ("Refused to execute inline script")
    # land in the console; a page that works must not produce any.
    errors: list[str] = []
    yield make
    for context in contexts:
        context.close()
    assert errors == []


@dataclass(frozen=True)
class World:
    acme: Account
    alice: User
    bob: User
    olivia: User
    operations: Account


@pytest.fixture
def world(transactional_db: None) -> World:
    """alice administers Acme, bob is a Member there, olivia is an operator."""
    acme = AccountFactory(name="Acme Corporation")
    operations = AccountFactory(name="SoftwareOne Operations", operations=True)
    alice = UserFactory(email="alice@acme.test", name="Alice Admin", password=PASSWORD)
    bob = UserFactory(email="bob@acme.test", name="Bob Member", password=PASSWORD)
    olivia = UserFactory(email="olivia@swo.test", name="Olivia Operator", password=PASSWORD)
    MembershipFactory(user=alice, account=acme, role=Role.ADMINISTRATOR)
    MembershipFactory(user=bob, account=acme, role=Role.MEMBER)
    MembershipFactory(user=olivia, account=operations, role=Role.ADMINISTRATOR)
    return World(acme=acme, alice=alice, bob=bob, olivia=olivia, operations=operations)


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/signin/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def png_logo(path: Path, colour: tuple[int, int, int] = (32, 96, 200)) -> Path:
    image = Image.new("RGB", (64, 64), colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path
