"""What every admin page needs to draw its header: the user, the current account, the accounts
they can switch to, and where they start."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.access import landing_url, memberships, resolve_access


def ui(request: HttpRequest) -> dict[str, Any]:
    # An error page can be drawn for a request a middleware answered before the session or
    # the user were attached (a bad Host header is refused by CommonMiddleware).
    if not hasattr(request, "session") or not hasattr(request, "user"):
        return {}
    try:
        access = resolve_access(request)
    except PermissionDenied:
        return {}
    if access is None:
        return {}
    return {
        "ui_access": access,
        "ui_memberships": memberships(access.user),
        "ui_home": landing_url(access),
    }
