"""The small shared toolkit of the admin pages: query parameters, where to go next, and the
headers a page or fragment response needs. Who may see a page is ``accounts.access``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.http import url_has_allowed_host_and_scheme


def search_text(request: HttpRequest, name: str, limit: int = 200) -> str:
    """A free-text query parameter, trimmed and bounded. NUL is dropped: no stored text holds
    one, and PostgreSQL refuses it in a query (a 503 for what is only odd input)."""
    return request.GET.get(name, "").replace("\x00", "").strip()[:limit]


def safe_next(request: HttpRequest, default: str) -> str:
    """The ``next`` the form or link carries, if it stays on this site; ``default`` else."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return default


def fragment_only[View: Callable[..., Any]](view: View) -> View:
    """Marks a view whose GET answers htmx only, with no page of its own: signing in again
    after an expired session must not come back to it (``accounts.middleware``). The view
    still refuses a plain GET itself. (As ``csrf_exempt`` does, an attribute on the view.)"""
    view.fragment_only = True  # type: ignore[attr-defined]
    return view


def is_fragment_only(view: Callable[..., Any]) -> bool:
    return getattr(view, "fragment_only", False) is True


def no_store(response: HttpResponse) -> HttpResponse:
    """For anything that carries a token value: never cached, by the browser or a proxy."""
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def query_with(request: HttpRequest, **changes: Any) -> str:
    """The current query string with some parameters changed (None removes one)."""
    params = request.GET.copy()
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


def in_dialog(request: HttpRequest) -> bool:
    """True for an htmx request made from another page than this one: its answer lands in
    that page's dialog. The same URL with htmx from its own full page (opened in a new tab, or
    without the list around it) answers for that page, so its title stays the page's h1."""
    htmx = getattr(request, "htmx", None)
    if not htmx:
        return False
    current = htmx.current_url_abs_path or ""
    return current.split("?", 1)[0] != request.path
