"""The Add API token wizard and the Edit dialog.

The wizard keeps what was entered in a signed hidden field (``state``), so it needs no server
state, survives Back and Next, and works as plain multi-step form posts without JavaScript.
A logo is checked and stored when its step is submitted; the state carries only its URL,
signed, so nobody can point a token at a file they did not upload through this form.

Creating is safe to repeat. The state carries a one-time nonce; the session remembers which
token each used nonce created, so the same wizard posted again (a reload, a double click, Back
and Add) shows that token's Summary instead of creating another. Without htmx the create ends
in a redirect (303) to the token's Summary page, whose first GET shows the value (marked
``Cache-Control: no-store``) and every later one only a pointer to the details page; with htmx
the dialog shows the Summary in place.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from accounts.access import Access, require_admin
from accounts.models import Module
from apitokens import logos, services
from apitokens.errors import AccountNotActive
from apitokens.forms import GeneralForm, ModulesForm
from apitokens.models import ApiToken
from apitokens.pages import after_change, get_token
from apitokens.secrets import mask
from apitokens.selectors import account_modules, get_visible_token
from tokens_admin.errors import DomainError, ValidationFailed
from tokens_admin.requests import AppRequest, request_context
from tokens_admin.ui import no_store, safe_next

STEPS: Final = ("general", "modules", "overview")
STEP_LABELS: Final = {"general": "General", "modules": "Modules", "overview": "Overview"}
SALT: Final = "apitokens.wizard"
MAX_AGE: Final = 6 * 3600
NOT_STORED: Final = "not_stored"
# Session keys: nonce -> the token it created; the tokens whose Summary may still show the value.
SESSION_CREATED: Final = "apitokens.wizard.created"
SESSION_SHOW_ONCE: Final = "apitokens.wizard.show_once"
REMEMBERED: Final = 20


def _load_state(raw: str) -> dict[str, Any] | None:
    if not raw:
        nonce = secrets.token_urlsafe(16)
        return {"name": "", "description": "", "icon": "", "modules": [], "nonce": nonce}
    try:
        state = signing.loads(raw, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    return state if isinstance(state, dict) else None


def _modules_of(state: dict[str, Any], available: list[Module]) -> list[Module]:
    wanted = set(state.get("modules") or [])
    return [m for m in available if m.public_id in wanted]


def _render_wizard(
    request: AppRequest,
    access: Access,
    *,
    step: str,
    state: dict[str, Any],
    form: Any = None,
    status: int = 200,
) -> HttpResponse:
    available = account_modules(access.account)
    if form is None and step == "general":
        form = GeneralForm(initial={"name": state["name"], "description": state["description"]})
    if form is None and step == "modules":
        form = ModulesForm(initial={"modules": state["modules"]}, available=available)
    context = {
        "access": access,
        "step": step,
        "steps": [(s, STEP_LABELS[s]) for s in STEPS],
        "step_index": STEPS.index(step),
        "form": form,
        "state": state,
        "signed_state": signing.dumps(state, salt=SALT),
        "available": available,
        "chosen": _modules_of(state, available),
        "descriptions": {m.public_id: m.description for m in available},
    }
    template = "apitokens/wizard.html"
    if request.htmx:
        template += "#wizard"
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def token_add(request: AppRequest) -> HttpResponse:
    access = require_admin(request)
    if request.method == "GET":
        return _render_wizard(request, access, step="general", state=_load_state("") or {})
    state = _load_state(request.POST.get("state", ""))
    if state is None:
        messages.error(request, "The form expired. Please start again.")
        return _render_wizard(request, access, step="general", state=_load_state("") or {})
    step = request.POST.get("step", "general")
    nav = request.POST.get("nav", "next")
    if step == "modules":
        return _modules_step(request, access, state, nav)
    if step == "overview" and nav == "back":
        return _render_wizard(request, access, step="modules", state=state)
    if step == "overview":
        return _create(request, access, state)
    return _general_step(request, access, state)


def _general_step(request: AppRequest, access: Access, state: dict[str, Any]) -> HttpResponse:
    general = GeneralForm(request.POST, request.FILES)
    if not general.is_valid():
        return _render_wizard(
            request, access, step="general", state=state, form=general, status=400
        )
    state["name"] = general.cleaned_data["name"]
    state["description"] = general.cleaned_data["description"]
    if general.cleaned_data["logo"] is not None:
        data, extension = general.cleaned_data["logo"]
        try:
            state["icon"] = logos.store(data, extension, account_id=access.account.public_id)
        except logos.LogoNotStored as exc:
            general.add_error("logo", forms.ValidationError(str(exc), code=NOT_STORED))
            return _render_wizard(
                request, access, step="general", state=state, form=general, status=507
            )
    elif request.POST.get("remove_logo"):
        state["icon"] = ""
    return _render_wizard(request, access, step="modules", state=state)


def _modules_step(
    request: AppRequest, access: Access, state: dict[str, Any], nav: str
) -> HttpResponse:
    chosen = ModulesForm(request.POST, available=account_modules(access.account))
    if not chosen.is_valid():
        return _render_wizard(request, access, step="modules", state=state, form=chosen, status=400)
    state["modules"] = [m.public_id for m in chosen.chosen()]
    following = "general" if nav == "back" else "overview"
    return _render_wizard(request, access, step=following, state=state)


def _remember(request: AppRequest, key: str, entries: dict[str, str]) -> None:
    """Keep the newest ``REMEMBERED`` entries only: the session stays small."""
    request.session[key] = dict(list(entries.items())[-REMEMBERED:])


def _create(request: AppRequest, access: Access, state: dict[str, Any]) -> HttpResponse:
    """The Overview's "Add": the token, then its Summary (the value shown once)."""
    nonce = str(state.get("nonce") or "")
    created_before: dict[str, str] = request.session.get(SESSION_CREATED, {})
    if nonce and nonce in created_before:
        return _created_again(request, access, created_before[nonce])
    available = account_modules(access.account)
    try:
        created = services.create_token(
            account=access.account,
            name=state["name"],
            description=state["description"],
            icon=state["icon"],
            modules=_modules_of(state, available),
            actor=access.actor,
            request=request_context(request),
        )
    except ValidationFailed as exc:
        return _back_to_the_field(request, access, state, available, exc)
    except AccountNotActive as exc:
        return after_change(
            request,
            access,
            level="error",
            text=exc.message,
            next_url=reverse("ui:tokens"),
            origin="details",
        )
    token = created.token
    if nonce:
        _remember(request, SESSION_CREATED, {**created_before, nonce: token.public_id})
    if request.htmx:
        return _summary(request, access, token, created.value, status=201)
    pending: dict[str, str] = request.session.get(SESSION_SHOW_ONCE, {})
    _remember(request, SESSION_SHOW_ONCE, {**pending, token.public_id: "1"})
    response = redirect("ui:token_created", public_id=token.public_id)
    response.status_code = 303
    return response


def _created_again(request: AppRequest, access: Access, public_id: str) -> HttpResponse:
    """The same wizard posted again: the Summary of the token it created, never a second."""
    token = get_visible_token(access, public_id, with_modules=True)
    if token is None or token.is_deleted:
        return after_change(
            request,
            access,
            level="success",
            text="This API token was already created.",
            next_url=reverse("ui:tokens"),
            origin="details",
        )
    if request.htmx:
        return _summary(request, access, token, None)
    response = redirect("ui:token_created", public_id=token.public_id)
    response.status_code = 303
    return response


def _summary(
    request: AppRequest, access: Access, token: ApiToken, value: str | None, status: int = 200
) -> HttpResponse:
    """The Summary step; ``value`` when it is shown (once), ``None`` after that."""
    context = {
        "access": access,
        "token": token,
        "value": value,
        "masked": mask(token.public_id),
        "modules": list(token.modules.all()),
        "steps": [(s, STEP_LABELS[s]) for s in STEPS],
        "step": "summary",
        "step_index": len(STEPS),
    }
    template = "apitokens/wizard.html"
    if request.htmx:
        template += "#summary"
    return no_store(render(request, template, context, status=status))


@login_required
@require_http_methods(["GET"])
@vary_on_headers("HX-Request")
def token_created(request: AppRequest, public_id: str) -> HttpResponse:
    """The Summary page a create redirects to: the value on its first GET only."""
    access = require_admin(request)
    token = get_token(access, public_id)
    pending: dict[str, str] = request.session.get(SESSION_SHOW_ONCE, {})
    value = None
    if pending.pop(token.public_id, None) is not None:
        request.session[SESSION_SHOW_ONCE] = pending
        if not token.is_deleted:
            value = services.decrypt_value(token)
    return _summary(request, access, token, value)


def _back_to_the_field(
    request: AppRequest,
    access: Access,
    state: dict[str, Any],
    available: list[Module],
    exc: ValidationFailed,
) -> HttpResponse:
    """A create refused at the last step goes back to the step of the field at fault."""
    back = "modules" if "modules" in exc.errors and "name" not in exc.errors else "general"
    form: Any
    if back == "general":
        form = GeneralForm(initial={"name": state["name"], "description": state["description"]})
    else:
        form = ModulesForm(initial={"modules": state["modules"]}, available=available)
    for field, problems in exc.errors.items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)
    return _render_wizard(request, access, step=back, state=state, form=form, status=400)


def _edit_forms(token: ApiToken, available: list[Module]) -> tuple[GeneralForm, ModulesForm]:
    """The Edit dialog's two tabs, filled with what the token has now."""
    general = GeneralForm(initial={"name": token.name, "description": token.description})
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


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def token_edit(request: AppRequest, public_id: str) -> HttpResponse:
    """Edit dialog: General and Modules, tabs of one form (``?step=`` opens either), one
    "Save" for both."""
    access = require_admin(request)
    token = get_token(access, public_id)
    origin = request.POST.get("origin") or request.GET.get("origin") or "list"
    details_url = reverse("ui:token_details", args=[token.public_id])
    if token.is_deleted:
        return after_change(
            request,
            access,
            level="error",
            text="A deleted API token cannot be edited.",
            next_url=details_url,
            origin="details",
        )
    step = _edit_step(request)
    next_url = safe_next(request, details_url if origin == "details" else reverse("ui:tokens"))
    available = account_modules(access.account)
    status = 200
    if request.method == "POST":
        general = GeneralForm(request.POST, request.FILES)
        chosen = ModulesForm(request.POST, available=available)
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
        # 507 when the server could not store the logo (nothing to fix in the form), else 400.
        status = 507 if general.has_error("logo", code=NOT_STORED) else 400
        # Show the tab with the first error.
        step = "general" if general.errors else "modules" if chosen.errors else step
    else:
        general, chosen = _edit_forms(token, available)
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
