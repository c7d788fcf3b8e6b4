"""What the token pages share: the token a URL names, a list row, and the one way out of a
change (a message and where to go next).

A change made on a page ends one of three ways, and only here: without htmx, a message and
a redirect; with htmx from the details page, a message and a client-side redirect (the page
shows the new state whole); with htmx from the list, the changed row in place and an event
that shows the message and closes the dialog (``static/js/app.js``).
"""

from __future__ import annotations

from typing import Final

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from accounts.access import Access
from apitokens.models import ApiToken
from apitokens.selectors import get_visible_token
from tokens_admin.requests import AppRequest

LEVELS: Final = {"success": messages.SUCCESS, "error": messages.ERROR}


def get_token(access: Access, public_id: str) -> ApiToken:
    """A token of the current account, or 404 (another account's id looks like no token)."""
    token = get_visible_token(access, public_id, with_modules=True)
    if token is None:
        raise Http404("No such API token.")
    return token


def render_row(
    request: HttpRequest, access: Access, token: ApiToken, list_url: str
) -> HttpResponse:
    return render(
        request,
        "apitokens/list.html#row",
        {"token": token, "access": access, "list_url": list_url},
    )


def message_event(response: HttpResponse, level: str, text: str) -> HttpResponse:
    """Tell the page (static/js/app.js) to show a message and close any open dialog."""
    trigger_client_event(response, "ui:message", {"level": level, "text": text})
    trigger_client_event(response, "ui:close-dialog", {})
    return response


def after_change(
    request: AppRequest,
    access: Access,
    *,
    level: str,
    text: str,
    next_url: str,
    origin: str,
    token: ApiToken | None = None,
    retarget: bool = False,
) -> HttpResponse:
    """The one way out of a change (see the module's docstring). ``token`` is the row to
    redraw on the list (gone if the caller may no longer see it); ``retarget`` when the
    request's own target is not that row (the edit dialog's form)."""
    if not request.htmx or origin == "details":
        messages.add_message(request, LEVELS[level], text)
        return HttpResponseClientRedirect(next_url) if request.htmx else redirect(next_url)
    fresh = get_visible_token(access, token.public_id, with_modules=True) if token else None
    response = render_row(request, access, fresh, next_url) if fresh else HttpResponse("")
    if fresh is not None and retarget:
        response["HX-Retarget"] = f"#token-{fresh.public_id}"
        response["HX-Reswap"] = "outerHTML"
    return message_event(response, level, text)
