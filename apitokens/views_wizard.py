"""The Add API token wizard and the Edit dialog.

The wizard keeps what was entered in a signed hidden field (``state``), so it needs no server
state, survives Back and Next, and works as plain multi-step form posts without JavaScript.
A logo is checked and stored when its step is submitted; the state carries only its URL,
signed, so nobody can point a token at a file they did not upload through this form. The
token value exists only in the final response, which is marked ``Cache-Control: no-store``.
"""

from __future__ import annotations

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
from apitokens.selectors import account_modules
from tokens_admin.errors import DomainError, ValidationFailed
from tokens_admin.requests import AppRequest, request_context
from tokens_admin.ui import no_store, safe_next

STEPS: Final = ("general", "modules", "overview")
STEP_LABELS: Final = {"general": "General", "modules": "Modules", "overview": "Overview"}
SALT: Final = "apitokens.wizard"
MAX_AGE: Final = 6 * 3600
NOT_STORED: Final = "not_stored"


def _load_state(raw: str) -> dict[str, Any] | None:
    if not raw:
        return {"name": "", "description": "", "icon": "", "modules": []}
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


def _create(request: AppRequest, access: Access, state: dict[str, Any]) -> HttpResponse:
    """The Overview's "Add": the token, then the Summary with its value (shown once)."""
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
    context = {
        "access": access,
        "token": created.token,
        "value": created.value,
        "masked": mask(created.token.public_id),
        "modules": _modules_of(state, available),
        "steps": [(s, STEP_LABELS[s]) for s in STEPS],
        "step": "summary",
        "step_index": len(STEPS),
    }
    template = "apitokens/wizard.html"
    if request.htmx:
        template += "#summary"
    return no_store(render(request, template, context, status=201))


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


def _edit_form(token: ApiToken, step: str, available: list[Module]) -> Any:
    """The Edit dialog's tab, filled with what the token has now."""
    if step == "general":
        return GeneralForm(initial={"name": token.name, "description": token.description})
    return ModulesForm(
        initial={"modules": [m.public_id for m in token.modules.all()]}, available=available
    )


def _save_edit(
    request: AppRequest, access: Access, token: ApiToken, form: Any, *, step: str
) -> tuple[str, str] | None:
    """Apply a valid Edit form: ``(level, message)`` when done or refused as a whole, ``None``
    when the form got field errors to show again."""
    changes: dict[str, Any] = {}
    if step == "general":
        changes["name"] = form.cleaned_data["name"]
        changes["description"] = form.cleaned_data["description"]
        if form.cleaned_data["logo"] is None and request.POST.get("remove_logo"):
            changes["icon"] = ""
    else:
        changes["modules"] = form.chosen()
    try:
        if step == "general" and form.cleaned_data["logo"] is not None:
            changes["icon"] = logos.store(
                *form.cleaned_data["logo"], account_id=access.account.public_id
            )
        updated = services.update_token(
            token=token, actor=access.actor, request=request_context(request), **changes
        )
    except logos.LogoNotStored as exc:
        form.add_error("logo", forms.ValidationError(str(exc), code=NOT_STORED))
    except ValidationFailed as exc:
        for field, problems in exc.errors.items():
            for problem in problems:
                form.add_error(field if field in form.fields else None, problem)
    except DomainError as exc:
        return "error", exc.message
    else:
        return "success", f"API token {updated.name} has been saved."
    return None


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def token_edit(request: AppRequest, public_id: str) -> HttpResponse:
    """Edit dialog: General and Modules, each with its own URL (``?step=``) and "Save"."""
    access = require_admin(request)
    token = get_token(access, public_id)
    if token.is_deleted:
        messages.error(request, "A deleted API token cannot be edited.")
        return redirect("ui:token_details", public_id=token.public_id)
    step = request.POST.get("step") or request.GET.get("step") or "general"
    if step not in ("general", "modules"):
        step = "general"
    origin = request.POST.get("origin") or request.GET.get("origin") or "list"
    details_url = reverse("ui:token_details", args=[token.public_id])
    next_url = safe_next(request, details_url if origin == "details" else reverse("ui:tokens"))
    available = account_modules(access.account)
    form: Any
    status = 200
    if request.method == "POST":
        form = (
            GeneralForm(request.POST, request.FILES)
            if step == "general"
            else ModulesForm(request.POST, available=available)
        )
        if form.is_valid():
            saved = _save_edit(request, access, token, form, step=step)
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
        status = 507 if form.has_error("logo", code=NOT_STORED) else 400
    else:
        form = _edit_form(token, step, available)
    context = {
        "access": access,
        "token": token,
        "step": step,
        "form": form,
        "origin": origin,
        "next": next_url,
        "descriptions": {m.public_id: m.description for m in available},
    }
    template = "apitokens/edit.html"
    if request.htmx:
        template += "#dialog"
    return render(request, template, context, status=status)
