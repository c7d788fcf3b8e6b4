"""What every admin page needs to draw its header: the user, the current account and the
accounts they can switch to."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from tokens_admin.ui import memberships, resolve_access


def ui(request: HttpRequest) -> dict[str, Any]:
    if not hasattr(request, "session") or not getattr(request, "user", None):
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
    }
