"""The account's token lifetime policy, as a page (issue 16): read and changed by the
account's Administrators and by Operations acting on it; the same service as the API and
``manage.py accounts policy``. Saving never shortens a token: the page lists the tokens the
policy would now refuse, for the Administrator to rotate or shorten."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.access import require_admin
from apitokens import policy as policies
from apitokens.lifetime import MAX_LIFETIME_DAYS, Limits
from tokens_admin.errors import ValidationFailed
from tokens_admin.requests import AppRequest, request_context


class PolicyForm(forms.Form):
    max_lifetime_days = forms.IntegerField(
        label="Maximum lifetime (days)",
        required=False,
        min_value=1,
        max_value=MAX_LIFETIME_DAYS,
        help_text=f"1 to {MAX_LIFETIME_DAYS} days from the moment an expiry is set; empty: no "
        "maximum. With a maximum, every token must expire.",
    )
    require_expiry = forms.BooleanField(
        label="Every token must have an expiry",
        required=False,
        help_text="Without a maximum, any expiry date will do.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def token_policy(request: AppRequest) -> HttpResponse:
    access = require_admin(request)
    current = policies.policy_of(access.account)
    status = 200
    if request.method == "POST":
        form = PolicyForm(request.POST)
        if form.is_valid():
            try:
                change = policies.update_policy(
                    account=access.account,
                    max_lifetime_days=form.cleaned_data["max_lifetime_days"],
                    require_expiry=form.cleaned_data["require_expiry"],
                    actor=access.actor,
                    request=request_context(request),
                )
            except ValidationFailed as exc:
                for problems in exc.errors.values():
                    for problem in problems:
                        form.add_error("max_lifetime_days", problem)
            else:
                messages.success(request, "The token lifetime policy has been saved.")
                if change.exceeding:
                    messages.warning(
                        request,
                        f"{_tokens(len(change.exceeding))} outside it: they keep working "
                        "until rotated, shortened or expired (listed below).",
                    )
                return redirect("ui:token_policy")
        status = 400
    else:
        form = PolicyForm(
            initial={
                "max_lifetime_days": current.max_lifetime_days,
                "require_expiry": current.require_expiry,
            }
        )
    limits = Limits(current.max_lifetime_days, current.require_expiry)
    context: dict[str, Any] = {
        "access": access,
        "form": form,
        "policy": current,
        "exceeding": policies.exceeding(access.account, limits),
    }
    return render(request, "apitokens/policy.html", context, status=status)


def _tokens(count: int) -> str:
    return "1 token is" if count == 1 else f"{count} tokens are"
