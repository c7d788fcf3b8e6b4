"""axe-core in the browser tests, one helper for every file: every violation of any impact, with
the experimental rule that compares a control's visible label with its accessible name on.

axe is a script run in the page, so it cannot run in a context with JavaScript disabled (it
hangs there). To look at the pages as they are without JavaScript, a test keeps JavaScript on
and stops the page's own scripts instead (``block_page_scripts``): the pages have no inline
script (the Content-Security-Policy forbids them) nor any ``<noscript>`` or ``scripting``
media query, so what is drawn is what a browser without JavaScript draws.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

SCRIPT_URL = re.compile(r"\.js(\?|$)")


def violations(
    page: Any,
    where: str,
    *,
    impacts: Collection[str] | None = None,
    skip: Mapping[str, str] | None = None,
) -> list[str]:
    """Every axe violation on the page as it is now, one line each, saying ``where``.

    ``impacts`` keeps only those impacts (by default, every one counts). ``skip`` switches rules
    off for this one look, each with the reason: ``{"rule-id": "why, and who fixes it"}``.
    """
    from axe_playwright_python.sync_playwright import Axe

    rules: dict[str, dict[str, bool]] = {"label-content-name-mismatch": {"enabled": True}}
    for rule in skip or {}:
        rules[rule] = {"enabled": False}
    options = {"resultTypes": ["violations"], "rules": rules}
    found = Axe().run(page, options=options).response["violations"]
    return [
        f"{where}: {v['id']} ({v['impact']}) {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in found
        if impacts is None or v.get("impact") in impacts
    ]


def block_page_scripts(page: Any) -> None:
    """The page's own scripts never load: JavaScript "off" that axe can still run in."""
    page.route(SCRIPT_URL, lambda route: route.abort())
