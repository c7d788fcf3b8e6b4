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

from typing import Any, Final
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from accounts.access import Access, require_admin
from accounts.models import Module
from apitokens import expiry_choice, logos, new_values, services, wizard_state
from apitokens.errors import AccountNotActive, AlreadyCreated
from apitokens.forms import NOT_STORED, GeneralForm, ModulesForm
from apitokens.lifetime import Limits, limits_of
from apitokens.models import ApiToken
from apitokens.pages import after_change, get_token
from apitokens.rules import Unset
from apitokens.secrets import mask
from apitokens.selectors import account_modules, get_visible_token
from tokens_admin.errors import ValidationFailed
from tokens_admin.requests import AppRequest, request_context
from tokens_admin.ui import no_store

STEPS: Final = ("general", "modules", "overview")
STEP_LABELS: Final = {"general": "General", "modules": "Modules", "overview": "Overview"}
EXPIRED: Final = "The form expired. Please start again."


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
    limits = limits_of(access.account)
    if form is None and step == "general":
        form = GeneralForm(initial=wizard_state.general_initial(state), limits=limits)
    if form is None and step == "modules":
        form = ModulesForm(initial={"modules": state["modules"]}, available=available)
    context = {
        "access": access,
        "step": step,
        "steps": [(s, STEP_LABELS[s]) for s in STEPS],
        "step_index": STEPS.index(step),
        "form": form,
        "state": state,
        "signed_state": wizard_state.sign(state),
        "available": available,
        "chosen": wizard_state.modules_of(state, available),
        "descriptions": {m.public_id: m.description for m in available},
        "expiry": expiry_choice.describe(
            *wizard_state.expiry_of(state, limits), timezone.now(), limits
        ),
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
    state = wizard_state.load_state(request.POST.get("state", ""))
    if state is None:
        messages.error(request, EXPIRED)
        if request.htmx:
            return _render_wizard(request, access, step="general", state=wizard_state.new_state())
        return _see_other(reverse("ui:token_add"))
    step = request.POST.get("step", "general")
    nav = request.POST.get("nav", "next")
    following: wizard_state.Next | HttpResponse
    if step == "overview" and nav == "back":
        following = wizard_state.Next("modules")
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
    wizard_state.keep_draft(request, state, following)
    query = urlencode({"wizard": state["wizard"], "step": following.step})
    return _see_other(f"{reverse('ui:token_add')}?{query}")


def _show_step(request: AppRequest, access: Access) -> HttpResponse:
    """A GET: a new wizard, or a step of one kept in the session (where a POST redirected)."""
    wizard = request.GET.get("wizard")
    if not wizard:
        return _render_wizard(request, access, step="general", state=wizard_state.new_state())
    draft = wizard_state.draft(request, wizard)
    if draft is None:
        messages.error(request, EXPIRED)
        return _see_other(reverse("ui:token_add"))
    step = request.GET.get("step", "")
    step = step if step in STEPS else "general"
    available = account_modules(access.account)
    refused = draft.get("refused") or {}
    if refused.get("step") != step:
        return _render_wizard(request, access, step=step, state=draft["state"], available=available)
    limits = limits_of(access.account)
    form = wizard_state.with_errors(
        wizard_state.bound(step, refused["data"], available, limits), refused["errors"]
    )
    return _render_wizard(
        request,
        access,
        step=step,
        state=draft["state"],
        form=form,
        status=refused["status"],
        available=available,
    )


def _general_step(request: AppRequest, access: Access, state: dict[str, Any]) -> wizard_state.Next:
    general = GeneralForm(request.POST, request.FILES, limits=limits_of(access.account))
    if not general.is_valid():
        return wizard_state.Next("general", general, 400)
    state["name"] = general.cleaned_data["name"]
    state["description"] = general.cleaned_data["description"]
    state["expiration"] = general.cleaned_data["expiration"]
    day = general.cleaned_data.get("expires_on")
    state["expires_on"] = day.isoformat() if day else ""
    if general.cleaned_data["logo"] is not None:
        data, extension = general.cleaned_data["logo"]
        try:
            state["icon"] = logos.store(data, extension, account_id=access.account.public_id)
        except logos.LogoNotStored as exc:
            general.add_error("logo", forms.ValidationError(str(exc), code=NOT_STORED))
            return wizard_state.Next("general", general, 507)
    elif request.POST.get("remove_logo"):
        state["icon"] = ""
    return wizard_state.Next("modules")


def _modules_step(
    request: AppRequest, access: Access, state: dict[str, Any], nav: str
) -> wizard_state.Next:
    chosen = ModulesForm(request.POST, available=account_modules(access.account))
    if not chosen.is_valid():
        return wizard_state.Next("modules", chosen, 400)
    state["modules"] = [m.public_id for m in chosen.chosen()]
    return wizard_state.Next("general" if nav == "back" else "overview")


def _create(
    request: AppRequest, access: Access, state: dict[str, Any]
) -> HttpResponse | wizard_state.Next:
    """The Overview's "Add": the token, then its Summary (the value shown once)."""
    available = account_modules(access.account)
    limits = limits_of(access.account)
    try:
        expires_at = expiry_choice.moment_of(
            *wizard_state.expiry_of(state, limits), timezone.now(), limits
        )
    except ValueError as exc:
        return _back_to_the_field(
            state, available, limits, ValidationFailed({"expires_on": [str(exc)]})
        )
    try:
        created = services.create_token(
            account=access.account,
            name=state["name"],
            description=state["description"],
            icon=state["icon"],
            modules=wizard_state.modules_of(state, available),
            expires_at=None if isinstance(expires_at, Unset) else expires_at,
            actor=access.actor,
            request=request_context(request),
            once=str(state.get("nonce") or ""),
        )
    except AlreadyCreated as exc:
        return _created_again(request, access, exc.token.public_id)
    except ValidationFailed as exc:
        return _back_to_the_field(state, available, limits, exc)
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
    state: dict[str, Any], available: list[Module], limits: Limits, exc: ValidationFailed
) -> wizard_state.Next:
    """A create refused at the last step goes back to the step of the field at fault (the
    policy may have changed since the General step: its expiry error goes to Expiration)."""
    errors = dict(exc.errors)
    if "expiresAt" in errors:
        field = "expires_on" if state.get("expiration") == expiry_choice.CUSTOM else "expiration"
        errors[field] = errors.pop("expiresAt")
    back = "modules" if "modules" in errors and len(errors) == 1 else "general"
    if back == "general":
        data: dict[str, Any] = {
            key: state.get(key) or "" for key in ("name", "description", "expiration", "expires_on")
        }
    else:
        data = {"modules": state["modules"]}
    return wizard_state.Next(
        back,
        wizard_state.with_errors(wizard_state.bound(back, data, available, limits), errors),
        400,
    )
