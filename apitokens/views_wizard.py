"""The Add API token wizard and the Edit dialog.

The wizard's state (what was entered so far, a one-time nonce, the wizard's id) travels in a
signed hidden field, so every step's POST carries it. A logo is checked and stored when its
step is submitted; the state carries only its URL, signed, so nobody can point a token at a file
they did not upload through this form.

With htmx the dialog swaps each step in place. Without JavaScript every POST answers 303 to a
GET page (Post/Redirect/Get), so Back and reload never ask to resubmit a form: the state is kept
in the session under the wizard's id, and the redirect goes to ``add/?wizard=<id>&step=<step>``.
A step refused with errors keeps what was typed and its errors there too, and its GET shows them
with the POST's status (400, or 507 for a logo the server could not store). Nothing secret is in
the state before the create, and a token value typed into a field never reaches the session.

Creating is safe to repeat: the nonce is the create's key (``services.create_token(once=…)``),
so the same wizard posted again (a double click, two tabs, Back and Add) shows the first token's
Summary instead of making another. Without htmx the create ends in a 303 to the token's Summary
page, whose first GET by the creator claims the value (``new_values.claim_new_value``, marked
``Cache-Control: no-store``); every later one only points to the details page. With htmx the
dialog shows the Summary in place.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

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
from apitokens import logos, new_values, services
from apitokens import secrets as token_secrets
from apitokens.errors import AccountNotActive, AlreadyCreated
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
EXPIRED: Final = "The form expired. Please start again."
# Session key: wizard id -> its state, and the step refused last (what was typed, the errors).
SESSION_DRAFTS: Final = "apitokens.wizard.drafts"
REMEMBERED: Final = 20


def _new_state() -> dict[str, Any]:
    return {
        "name": "",
        "description": "",
        "icon": "",
        "modules": [],
        "nonce": secrets.token_urlsafe(16),
        "wizard": secrets.token_urlsafe(9),
    }


def _load_state(raw: str) -> dict[str, Any] | None:
    if not raw:
        return _new_state()
    try:
        state = signing.loads(raw, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(state, dict):
        return None
    state.setdefault("wizard", secrets.token_urlsafe(9))  # signed before wizards had ids
    return state


def _modules_of(state: dict[str, Any], available: list[Module]) -> list[Module]:
    wanted = set(state.get("modules") or [])
    return [m for m in available if m.public_id in wanted]


@dataclass(frozen=True, slots=True)
class _Next:
    """Where a step's POST leads: the step to show, and the form refused there (and why)."""

    step: str
    form: forms.Form | None = None
    status: int = 200


def _see_other(url: str) -> HttpResponse:
    """303: the browser follows with a GET, and its history keeps that GET, never the POST."""
    response = redirect(url)
    response.status_code = 303
    return response


def _render_wizard(
    request: AppRequest,
    access: Access,
    *,
    step: str,
    state: dict[str, Any],
    form: Any = None,
    status: int = 200,
    available: list[Module] | None = None,
) -> HttpResponse:
    available = account_modules(access.account) if available is None else available
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
        "autofocus": "",
    }
    if form is not None and form.is_bound and form.errors and not request.htmx:
        # A full page: the browser puts the focus on the field to fix (htmx: app.js does).
        context["autofocus"] = _autofocus(form)
    template = "apitokens/wizard.html"
    if request.htmx:
        template += "#wizard"
    return render(request, template, context, status=status)


def _autofocus(form: forms.Form) -> str:
    """The first field with an error, marked ``autofocus`` when its widget renders it."""
    field = next((f for f in form.fields if f in form.errors), "")
    if field and field not in ("logo", "modules"):
        form.fields[field].widget.attrs["autofocus"] = True
    return field


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def token_add(request: AppRequest) -> HttpResponse:
    access = require_admin(request)
    if request.method == "GET":
        return _show_step(request, access)
    state = _load_state(request.POST.get("state", ""))
    if state is None:
        messages.error(request, EXPIRED)
        if request.htmx:
            return _render_wizard(request, access, step="general", state=_new_state())
        return _see_other(reverse("ui:token_add"))
    step = request.POST.get("step", "general")
    nav = request.POST.get("nav", "next")
    following: _Next | HttpResponse
    if step == "overview" and nav == "back":
        following = _Next("modules")
    elif step == "overview":
        following = _create(request, access, state)
    elif step == "modules":
        following = _modules_step(request, access, state, nav)
    else:
        following = _general_step(request, access, state)
    if isinstance(following, HttpResponse):
        return following
    if request.htmx:
        return _render_wizard(
            request,
            access,
            step=following.step,
            state=state,
            form=following.form,
            status=following.status,
        )
    _keep_draft(request, state, following)
    query = urlencode({"wizard": state["wizard"], "step": following.step})
    return _see_other(f"{reverse('ui:token_add')}?{query}")


def _show_step(request: AppRequest, access: Access) -> HttpResponse:
    """A GET: a new wizard, or a step of one kept in the session (where a POST redirected)."""
    wizard = request.GET.get("wizard")
    if not wizard:
        return _render_wizard(request, access, step="general", state=_new_state())
    draft = request.session.get(SESSION_DRAFTS, {}).get(wizard)
    if not isinstance(draft, dict):
        messages.error(request, EXPIRED)
        return _see_other(reverse("ui:token_add"))
    step = request.GET.get("step", "")
    step = step if step in STEPS else "general"
    available = account_modules(access.account)
    refused = draft.get("refused") or {}
    if refused.get("step") != step:
        return _render_wizard(request, access, step=step, state=draft["state"], available=available)
    form = _with_errors(_bound(step, refused["data"], available), refused["errors"])
    return _render_wizard(
        request,
        access,
        step=step,
        state=draft["state"],
        form=form,
        status=refused["status"],
        available=available,
    )


def _typed(form: forms.Form) -> dict[str, Any]:
    """What was typed into a refused form, to show it again, without any token value in it."""
    if isinstance(form, ModulesForm):
        data = form.data
        chosen = data.getlist("modules") if hasattr(data, "getlist") else data.get("modules")
        return {"modules": [token_secrets.replace_values(str(m)) for m in chosen or []]}
    return {
        name: token_secrets.replace_values(str(form.data.get(name) or ""))
        for name in ("name", "description")
    }


def _keep_draft(request: AppRequest, state: dict[str, Any], following: _Next) -> None:
    """The wizard's state (and the refused step, if any) in the session, for the GET the
    POST redirects to; the newest ``REMEMBERED`` wizards only, so the session stays small."""
    draft: dict[str, Any] = {"state": state}
    if following.form is not None:
        draft["refused"] = {
            "step": following.step,
            "status": following.status,
            "data": _typed(following.form),
            "errors": {
                field: [token_secrets.replace_values(str(e)) for e in errors]
                for field, errors in following.form.errors.items()
            },
        }
    drafts: dict[str, Any] = dict(request.session.get(SESSION_DRAFTS, {}))
    drafts.pop(state["wizard"], None)
    drafts[state["wizard"]] = draft
    request.session[SESSION_DRAFTS] = dict(list(drafts.items())[-REMEMBERED:])


def _bound(step: str, data: dict[str, Any], available: list[Module]) -> forms.Form:
    if step == "modules":
        return ModulesForm(data, available=available)
    return GeneralForm(data)


def _with_errors(form: forms.Form, errors: dict[str, list[str]]) -> forms.Form:
    """``form`` checked again, plus the ``errors`` it cannot find by itself: a logo refused
    when it was uploaded, a rule only the service checks."""
    form.is_valid()
    for field, texts in errors.items():
        known = [str(e) for e in form.errors.get(field, [])]
        for text in texts:
            if text not in known:
                form.add_error(field if field in form.fields else None, text)
    return form


def _general_step(request: AppRequest, access: Access, state: dict[str, Any]) -> _Next:
    general = GeneralForm(request.POST, request.FILES)
    if not general.is_valid():
        return _Next("general", general, 400)
    state["name"] = general.cleaned_data["name"]
    state["description"] = general.cleaned_data["description"]
    if general.cleaned_data["logo"] is not None:
        data, extension = general.cleaned_data["logo"]
        try:
            state["icon"] = logos.store(data, extension, account_id=access.account.public_id)
        except logos.LogoNotStored as exc:
            general.add_error("logo", forms.ValidationError(str(exc), code=NOT_STORED))
            return _Next("general", general, 507)
    elif request.POST.get("remove_logo"):
        state["icon"] = ""
    return _Next("modules")


def _modules_step(request: AppRequest, access: Access, state: dict[str, Any], nav: str) -> _Next:
    chosen = ModulesForm(request.POST, available=account_modules(access.account))
    if not chosen.is_valid():
        return _Next("modules", chosen, 400)
    state["modules"] = [m.public_id for m in chosen.chosen()]
    return _Next("general" if nav == "back" else "overview")


def _create(request: AppRequest, access: Access, state: dict[str, Any]) -> HttpResponse | _Next:
    """The Overview's "Add": the token, then its Summary (the value shown once)."""
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
            once=str(state.get("nonce") or ""),
        )
    except AlreadyCreated as exc:
        return _created_again(request, access, exc.token.public_id)
    except ValidationFailed as exc:
        return _back_to_the_field(state, available, exc)
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
    if request.htmx:
        value = new_values.claim_new_value(token=token, actor=access.actor)
        return _summary(request, access, token, value, status=201)
    return _see_other(reverse("ui:token_created", args=[token.public_id]))


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
    return _see_other(reverse("ui:token_created", args=[token.public_id]))


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
    """The Summary page a create redirects to: the value on its creator's first GET only."""
    access = require_admin(request)
    token = get_token(access, public_id)
    value = new_values.claim_new_value(token=token, actor=access.actor)
    return _summary(request, access, token, value)


def _back_to_the_field(
    state: dict[str, Any], available: list[Module], exc: ValidationFailed
) -> _Next:
    """A create refused at the last step goes back to the step of the field at fault."""
    back = "modules" if "modules" in exc.errors and "name" not in exc.errors else "general"
    if back == "general":
        data: dict[str, Any] = {"name": state["name"], "description": state["description"]}
    else:
        data = {"modules": state["modules"]}
    return _Next(back, _with_errors(_bound(back, data, available), exc.errors), 400)


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
