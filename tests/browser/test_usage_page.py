"""The Usage tab in a real browser (issue 17): the 30-day chart drawn on the server reads at
1440 and 375 px (every bar inside the picture, no sideways scroll), works without JavaScript,
and axe finds nothing of any impact on it."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apitokens import usage
from tests.browser.axe import block_page_scripts, violations
from tests.browser.conftest import World, sign_in
from tests.browser.test_wizard_real_use import no_page_overflow
from tests.factories import TokenFactory

pytestmark = pytest.mark.browser


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.mark.parametrize("width", [1440, 375])
@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_the_usage_chart_reads_at_every_width(
    new_page: Any, world: World, tmp_path: Path, width: int, js: bool
) -> None:
    token = TokenFactory(account=world.acme, name="Busy robot", modules=["MOD-1756"])
    now = timezone.now()
    for day in range(0, 30, 3):
        for _ in range(day + 1):
            usage.buffer().note(
                token.pk, "198.51.100.4", "crm/2", now - timedelta(days=day), refused=False
            )
    usage.buffer().note(token.pk, "", "", now, refused=True)
    usage.flush(token.pk)
    page = new_page(js=True, width=width)
    if not js:
        block_page_scripts(page)
    sign_in(page, world.alice.email)
    page.goto(f"/settings/api-tokens/{token.public_id}/usage/")
    chart = page.get_by_role("img", name="Requests in the last 30 days")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] <= width
    assert page.locator(".bar-requests").count() == 30
    # Every bar lies inside the chart's picture.
    for bar in page.locator(".bar-requests").all()[-5:]:
        bar_box = bar.bounding_box()
        assert bar_box is not None
        assert box["x"] <= bar_box["x"]
        assert bar_box["x"] + bar_box["width"] <= box["x"] + box["width"]
    expect(page.locator("figcaption")).to_contain_text("the busiest day was")
    page.get_by_text("The numbers by day").click()
    expect(page.get_by_role("table").first).to_be_visible()
    assert no_page_overflow(page)
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    page.screenshot(path=str(folder / f"usage-{width}{'' if js else '-nojs'}.png"), full_page=True)
    assert violations(page, f"usage tab at {width}") == []
