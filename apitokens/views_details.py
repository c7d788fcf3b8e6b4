"""The token details page, its five tabs, and revealing or copying the value.

Each tab has its own URL; htmx loads just the panel (``hx-get`` + ``hx-push-url``) and a plain
request gets the whole page with that tab open. Revealing the value needs a sign-in within
``REVEAL_REAUTH_MINUTES`` (a password prompt otherwise); every reveal and copy goes through
``services.reveal_value``, which writes the audit record (a wrong password at the prompt through
``services.record_reveal_failure``), and every response carrying the value is
``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Any, Final

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from accounts import ratelimit
from accounts.access import Access, mark_authenticated, recently_authenticated, require_admin
from accounts.forms import PasswordForm
from apitokens import networks, services, usage, usage_chart
from apitokens.models import ApiToken
from apitokens.pages import get_token
from apitokens.secrets import mask
from apitokens.selectors import status_history, token_records
from tokens_admin.errors import DomainError
from tokens_admin.requests import AppRequest, request_context
from tokens_admin.ui import fragment_only, no_store

# Tab key: (label, URL name).
TABS: Final = {
    "general": ("General", "ui:token_details"),
    "modules": ("Modules", "ui:token_modules"),
    "details": ("Details", "ui:token_details_tab"),
    "usage": ("Usage", "ui:token_usage"),
    "audit": ("Audit trail", "ui:token_audit"),
}


def _tab_context(request: HttpRequest, access: Access, token: ApiToken, tab: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "access": access,
        "token": token,
        "tab": tab,
        "tabs": [
            (key, label, reverse(url_name, args=[token.public_id]))
            for key, (label, url_name) in TABS.items()
        ],
        "masked": mask(token.public_id),
        "api_endpoint": request.build_absolute_uri("/public/v1"),
        "allowed_ips": networks.listed(token.allowed_ips),
    }
    if tab == "details":
        context["history"] = status_history(token)
    if tab in ("general", "usage"):
        context["used"] = usage.usage_of([token])[token.pk]
    if tab == "usage":
        context["chart"] = usage_chart.chart(context["used"].daily)
    if tab == "audit":
        context["records"] = token_records(token)
        context["audit_url"] = reverse("ui:audit") + f"?object={token.public_id}"
    return context


def _tab_view(tab: str) -> Any:
    @login_required
    @require_GET
    @vary_on_headers("HX-Request")
    def view(request: AppRequest, public_id: str) -> HttpResponse:
        access = require_admin(request)
        token = get_token(access, public_id)
        context = _tab_context(request, access, token, tab)
        if request.htmx and request.headers.get("HX-Target") == "tab-panel":
            template = f"apitokens/tab_{tab}.html"
        else:
            template = "apitokens/details.html"
        return render(request, template, context)

    view.__name__ = f"token_{tab}"
    return view


token_details = _tab_view("general")
token_modules = _tab_view("modules")
token_details_tab = _tab_view("details")
token_usage = _tab_view("usage")
token_audit = _tab_view("audit")


def _value_response(
    request: AppRequest,
    access: Access,
    token: ApiToken,
    context: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    if request.htmx:
        response = render(request, "apitokens/_value.html", context, status=status)
    else:
        full = _tab_context(request, access, token, "general") | context
        response = render(request, "apitokens/details.html", full, status=status)
    return no_store(response)


def _too_many(
    request: AppRequest,
    access: Access,
    token: ApiToken,
    base: dict[str, Any],
    form: PasswordForm,
    retry_after: int,
) -> HttpResponse:
    form.add_error(None, "Too many wrong passwords. Try again later.")
    refused = _value_response(request, access, token, base | {"prompt": form}, status=429)
    refused["Retry-After"] = str(retry_after)
    return refused


@login_required
@require_http_methods(["POST"])
@vary_on_headers("HX-Request")
def token_reveal(request: AppRequest, public_id: str) -> HttpResponse:
    """Show (or, with ``copy=1``, copy) the value: audited, and only after a recent sign-in.

    ``Accept: application/json`` (the copy button's fetch) answers ``{"value": …}``, or 401
    with ``{"reauth": true}`` when the password must be entered first.
    """
    access = require_admin(request)
    token = get_token(access, public_id)
    copied = request.POST.get("copy") == "1"
    wants_json = "application/json" in request.headers.get("Accept", "")
    base = {"token": token, "masked": mask(token.public_id)}
    if "password" in request.POST:
        form = PasswordForm(request.POST)
        email = access.user.email
        ip = request.client_ip
        verdict = ratelimit.check(email=email, ip=ip)
        if not verdict.allowed:
            return _too_many(request, access, token, base, form, verdict.retry_after)
        if form.is_valid() and access.user.check_password(form.cleaned_data["password"]):
            mark_authenticated(request)
        else:
            verdict = ratelimit.fail(email=email, ip=ip)
            if verdict.over:
                # Concurrent guesses that all passed the check: past the limit, answered and
                # left unrecorded like any attempt over it (as sign-in does).
                return _too_many(request, access, token, base, form, verdict.retry_after)
            services.record_reveal_failure(
                token=token, actor=access.actor, request=request_context(request)
            )
            form.add_error("password", "The password is not correct.")
            return _value_response(request, access, token, base | {"prompt": form}, status=400)
    if not recently_authenticated(request):
        if wants_json:
            return no_store(JsonResponse({"reauth": True}, status=401))
        return _value_response(request, access, token, base | {"prompt": PasswordForm()})
    try:
        value = services.reveal_value(
            token=token, actor=access.actor, copied=copied, request=request_context(request)
        )
    except DomainError as exc:
        if wants_json:
            return no_store(JsonResponse({"error": exc.message}, status=409))
        return _value_response(request, access, token, base | {"error": exc.message}, status=409)
    if wants_json:
        return no_store(JsonResponse({"value": value}))
    return _value_response(request, access, token, base | {"value": value})


@fragment_only
@login_required
@require_GET
@vary_on_headers("HX-Request")
def token_value_hidden(request: AppRequest, public_id: str) -> HttpResponse:
    """ "Hide": the masked value again (a fragment; no secret in it)."""
    access = require_admin(request)
    token = get_token(access, public_id)
    if not request.htmx:
        raise Http404("Fragment only.")
    return render(
        request, "apitokens/_value.html", {"token": token, "masked": mask(token.public_id)}
    )
