"""Rotate a token's value from the pages (issue 16): a dialog (a page without JavaScript) to
choose how long the old value keeps working, then the new value, shown once.

The POST rotates and redirects (303) to ``…/rotated/``, which shows the new value once: it is
decrypted there from the stored ciphertext, never carried in the session or a URL, and the
showing is claimed atomically (``value_rotation.claim_showing``, a conditional UPDATE) per
rotation, so a reload, Back or a second tab shows "already shown" instead of the value again.
"""

from __future__ import annotations

from typing import Final

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from accounts.access import require_admin
from apitokens import services, value_rotation
from apitokens.pages import get_token
from apitokens.secrets import mask
from tokens_admin.errors import DomainError
from tokens_admin.requests import AppRequest, request_context
from tokens_admin.ui import no_store

# The grace periods offered (seconds, label); the API takes any value from 0 to 7 days.
GRACE_CHOICES: Final = (
    (0, "Immediately (the old value stops now)"),
    (3600, "After 1 hour"),
    (86400, "After 24 hours"),
    (3 * 86400, "After 3 days"),
    (7 * 86400, "After 7 days"),
)
DEFAULT_GRACE: Final = 86400
SESSION_KEY: Final = "rotated"


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def token_rotate(request: AppRequest, public_id: str) -> HttpResponse:
    access = require_admin(request)
    token = get_token(access, public_id)
    details_url = reverse("ui:token_details", args=[token.public_id])
    error = ""
    choice = DEFAULT_GRACE
    if request.method == "POST":
        try:
            choice = int(request.POST.get("grace", ""))
        except ValueError:
            choice = -1
        if choice not in dict(GRACE_CHOICES):
            error = "Choose when the old value stops working."
        else:
            try:
                rotated = value_rotation.rotate_token(
                    token=token,
                    grace_seconds=choice,
                    actor=access.actor,
                    request=request_context(request),
                )
            except DomainError as exc:
                messages.error(request, exc.message)
                return redirect(details_url)
            request.session[SESSION_KEY] = {
                "token": rotated.token.public_id,
                "at": rotated.token.rotated_at.isoformat() if rotated.token.rotated_at else "",
            }
            return redirect("ui:token_rotated", public_id=token.public_id, permanent=False)
    context = {
        "token": token,
        "choices": GRACE_CHOICES,
        "choice": choice,
        "error": error,
        "details_url": details_url,
        "post_url": reverse("ui:token_rotate", args=[token.public_id]),
    }
    template = "apitokens/rotate.html" + ("#dialog" if request.htmx else "")
    return render(request, template, context, status=400 if error else 200)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def token_rotated(request: AppRequest, public_id: str) -> HttpResponse:
    """The new value, once per rotation, to whoever just rotated it in this session."""
    access = require_admin(request)
    token = get_token(access, public_id)
    made = request.session.get(SESSION_KEY) or {}
    current = token.rotated_at.isoformat() if token.rotated_at else None
    value = ""
    if made.get("token") == token.public_id and made.get("at") == current:
        if value_rotation.claim_showing(token):
            value = services.decrypt_value(token)
        request.session.pop(SESSION_KEY, None)
    context = {
        "token": token,
        "value": value,
        "masked": mask(token.public_id),
        "details_url": reverse("ui:token_details", args=[token.public_id]),
    }
    template = "apitokens/rotated.html" + ("#dialog" if request.htmx else "")
    return no_store(render(request, template, context))
