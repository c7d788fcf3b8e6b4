"""The Add wizard's state between steps: signed into the form (what was entered so far, the
create's key), and kept in the session for the GET a no-JS step redirects to (the state, and a
refused step's input and errors, never a token value)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from django import forms
from django.core import signing
from django.utils import timezone

from accounts.models import Module
from apitokens import expiry_choice
from apitokens import secrets as token_secrets
from apitokens.forms import GeneralForm, ModulesForm
from apitokens.lifetime import Limits
from tokens_admin.requests import AppRequest

SALT: Final = "apitokens.wizard"
MAX_AGE: Final = 6 * 3600
# Session key: wizard id -> its state, and the step refused last (what was typed, the errors).
SESSION_DRAFTS: Final = "apitokens.wizard.drafts"
REMEMBERED: Final = 20


def new_state() -> dict[str, Any]:
    return {
        "name": "",
        "description": "",
        "icon": "",
        "modules": [],
        "expiration": "",
        "expires_on": "",
        "nonce": secrets.token_urlsafe(16),
        "wizard": secrets.token_urlsafe(9),
    }


def load_state(raw: str) -> dict[str, Any] | None:
    if not raw:
        return new_state()
    try:
        state = signing.loads(raw, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(state, dict):
        return None
    state.setdefault("wizard", secrets.token_urlsafe(9))  # signed before wizards had ids
    return state


def modules_of(state: dict[str, Any], available: list[Module]) -> list[Module]:
    wanted = set(state.get("modules") or [])
    return [m for m in available if m.public_id in wanted]


@dataclass(frozen=True, slots=True)
class Next:
    """Where a step's POST leads: the step to show, and the form refused there (and why)."""

    step: str
    form: forms.Form | None = None
    status: int = 200


def general_initial(state: dict[str, Any]) -> dict[str, Any]:
    initial = {"name": state["name"], "description": state["description"]}
    if state.get("expiration"):
        initial |= {"expiration": state["expiration"], "expires_on": state.get("expires_on")}
    return initial


def expiry_of(state: dict[str, Any], limits: Limits) -> tuple[str, date | None]:
    """The wizard's expiry choice and custom day (the policy's first choice if none yet)."""
    choice = str(state.get("expiration") or "")
    if not choice:
        choice = expiry_choice.Choices.under(limits, timezone.now()).initial
    day = state.get("expires_on") or ""
    return choice, date.fromisoformat(day) if day else None


def typed(form: forms.Form) -> dict[str, Any]:
    """What was typed into a refused form, to show it again, without any token value in it."""
    if isinstance(form, ModulesForm):
        data = form.data
        chosen = data.getlist("modules") if hasattr(data, "getlist") else data.get("modules")
        return {"modules": [token_secrets.replace_values(str(m)) for m in chosen or []]}
    return {
        name: token_secrets.replace_values(str(form.data.get(name) or ""))
        for name in ("name", "description", "expiration", "expires_on")
    }


def keep_draft(request: AppRequest, state: dict[str, Any], following: Next) -> None:
    """The wizard's state (and the refused step, if any) in the session, for the GET the
    POST redirects to; the newest ``REMEMBERED`` wizards only, so the session stays small."""
    draft: dict[str, Any] = {"state": state}
    if following.form is not None:
        draft["refused"] = {
            "step": following.step,
            "status": following.status,
            "data": typed(following.form),
            "errors": {
                field: [token_secrets.replace_values(str(e)) for e in errors]
                for field, errors in following.form.errors.items()
            },
        }
    drafts: dict[str, Any] = dict(request.session.get(SESSION_DRAFTS, {}))
    drafts.pop(state["wizard"], None)
    drafts[state["wizard"]] = draft
    request.session[SESSION_DRAFTS] = dict(list(drafts.items())[-REMEMBERED:])


def bound(step: str, data: dict[str, Any], available: list[Module], limits: Limits) -> forms.Form:
    if step == "modules":
        return ModulesForm(data, available=available)
    return GeneralForm(data, limits=limits)


def with_errors(form: forms.Form, errors: dict[str, list[str]]) -> forms.Form:
    """``form`` checked again, plus the ``errors`` it cannot find by itself: a logo refused
    when it was uploaded, a rule only the service checks."""
    form.is_valid()
    for field, texts in errors.items():
        known = [str(e) for e in form.errors.get(field, [])]
        for text in texts:
            if text not in known:
                form.add_error(field if field in form.fields else None, text)
    return form


def sign(state: dict[str, Any]) -> str:
    """The state for the form's hidden field (``load_state`` reads it back)."""
    return signing.dumps(state, salt=SALT)


def draft(request: AppRequest, wizard: str) -> dict[str, Any] | None:
    """What ``keep_draft`` kept for the wizard ``wizard`` (``None``: nothing, or too old)."""
    kept = request.session.get(SESSION_DRAFTS, {}).get(wizard)
    return kept if isinstance(kept, dict) else None
