"""The Edit dialog: General and Modules as tabs of one form, one "Save" for both (issue 15),
and the expiry within the account's policy (issue 16)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from accounts.access import Access, require_admin
from accounts.models import Module
from apitokens import logos, networks, services
from apitokens.forms import NOT_STORED, GeneralForm, ModulesForm
from apitokens.lifetime import limits_of
from apitokens.models import ApiToken
from apitokens.pages import after_change, get_token
from apitokens.rules import UNSET, Unset
from apitokens.selectors import account_modules
from tokens_admin.errors import DomainError, ValidationFailed
from tokens_admin.requests import AppRequest, request_context
from tokens_admin.ui import safe_next


def _edit_forms(
    token: ApiToken, available: list[Module], request: AppRequest
) -> tuple[GeneralForm, ModulesForm]:
    """The Edit dialog's two tabs: bound to a POST, else filled with what the token has now."""
    limits = limits_of(token.account_id)
    if request.method == "POST":
        return (
            GeneralForm(request.POST, request.FILES, limits=limits, current=token.expires_at),
            ModulesForm(request.POST, available=available),
        )
    general = GeneralForm(
        initial={
            "name": token.name,
            "description": token.description,
            "allowed_ips": "\n".join(networks.listed(token.allowed_ips)),
        },
        limits=limits,
        current=token.expires_at,
    )
    chosen = ModulesForm(
        initial={"modules": [m.public_id for m in token.modules.all()]}, available=available
    )
    return general, chosen


def _save_edit(
    request: AppRequest,
    access: Access,
    token: ApiToken,
    general: GeneralForm,
    chosen: ModulesForm,
) -> tuple[str, str] | None:
    """Apply both valid tabs at once: ``(level, message)`` when done or refused as a whole,
    ``None`` when a form got field errors to show again."""
    changes: dict[str, Any] = {
        "name": general.cleaned_data["name"],
        "description": general.cleaned_data["description"],
        "modules": chosen.chosen(),
    }
    for field in ("expires_at", "allowed_ips"):
        if not isinstance(general.cleaned_data.get(field, UNSET), Unset):
            changes[field] = general.cleaned_data[field]
    if general.cleaned_data["logo"] is None and request.POST.get("remove_logo"):
        changes["icon"] = ""
    try:
        if general.cleaned_data["logo"] is not None:
            changes["icon"] = logos.store(
                *general.cleaned_data["logo"], account_id=access.account.public_id
            )
        updated = services.update_token(
            token=token, actor=access.actor, request=request_context(request), **changes
        )
    except logos.LogoNotStored as exc:
        general.add_error("logo", forms.ValidationError(str(exc), code=NOT_STORED))
    except ValidationFailed as exc:
        for field, problems in exc.errors.items():
            field = {"expiresAt": "expiration", "allowedIps": "allowed_ips"}.get(field, field)
            form: forms.Form = chosen if field in chosen.fields else general
            for problem in problems:
                form.add_error(field if field in form.fields else None, problem)
    except DomainError as exc:
        return "error", exc.message
    else:
        return "success", f"API token {updated.name} has been saved."
    return None


def _edit_step(request: AppRequest) -> str:
    """The Edit dialog's tab to show: ``general`` unless ``modules`` is asked for."""
    step = request.POST.get("step") or request.GET.get("step") or "general"
    return step if step in ("general", "modules") else "general"


def _refuse_deleted(request: AppRequest, access: Access, details_url: str) -> HttpResponse:
    return after_change(
        request,
        access,
        level="error",
        text="A deleted API token cannot be edited.",
        next_url=details_url,
        origin="details",
    )


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def token_edit(request: AppRequest, public_id: str) -> HttpResponse:
    """General and Modules, tabs of one form (``?step=`` opens either), one Save for both."""
    access = require_admin(request)
    token = get_token(access, public_id)
    origin = request.POST.get("origin") or request.GET.get("origin") or "list"
    details_url = reverse("ui:token_details", args=[token.public_id])
    if token.is_deleted:
        return _refuse_deleted(request, access, details_url)
    step = _edit_step(request)
    next_url = safe_next(request, details_url if origin == "details" else reverse("ui:tokens"))
    available = account_modules(access.account)
    general, chosen = _edit_forms(token, available, request)
    status = 200
    if request.method == "POST":
        if general.is_valid() & chosen.is_valid():  # both, for every error at once
            saved = _save_edit(request, access, token, general, chosen)
            if saved is not None:
                return after_change(
                    request,
                    access,
                    next_url=next_url,
                    origin=origin if saved[0] == "success" else "details",
                    token=token,
                    retarget=True,
                    level=saved[0],
                    text=saved[1],
                )
        # 507 when the server could not store the logo (nothing to fix in the form), else 400;
        # the tab shown is the one with the first error.
        status = 507 if general.has_error("logo", code=NOT_STORED) else 400
        step = "general" if general.errors else "modules" if chosen.errors else step
    context = {
        "access": access,
        "token": token,
        "step": step,
        "general": general,
        "modules_form": chosen,
        "origin": origin,
        "next": next_url,
        "descriptions": {m.public_id: m.description for m in available},
    }
    return render(
        request, "apitokens/edit.html" + ("#dialog" if request.htmx else ""), context, status=status
    )
