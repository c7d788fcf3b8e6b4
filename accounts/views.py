"""Sign in, sign out, where a user starts, the account switcher and the operators' account
picker."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.views import csrf
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts import ratelimit, services
from accounts.access import (
    SESSION_ACCOUNT,
    Access,
    forget_access,
    landing_url,
    mark_authenticated,
    memberships,
    operator_membership,
    resolve_access,
)
from accounts.forms import SignInForm
from accounts.models import Account, Role, User
from accounts.selectors import administrators_of
from tokens_admin.ratelimit import Verdict
from tokens_admin.requests import AppRequest, request_context
from tokens_admin.ui import safe_next, search_text

PICKER_LIMIT = 50


def _home_account(user: User) -> Account | None:
    found = memberships(user)
    if not found:
        return None
    chosen = operator_membership(found) or found[0]
    return chosen.account


def _signed_in_access(request: HttpRequest) -> Access:
    forget_access(request)
    access = resolve_access(request)
    assert access is not None
    return access


def _locked_out(request: HttpRequest, form: SignInForm, verdict: Verdict) -> HttpResponse:
    minutes = max(1, round(verdict.retry_after / 60))
    form.add_error(
        None,
        f"Too many failed sign-in attempts. Try again in {minutes} minute"
        f"{'s' if minutes != 1 else ''}.",
    )
    response = render(request, "accounts/sign_in.html", {"form": form}, status=429)
    response["Retry-After"] = str(verdict.retry_after)
    return response


@require_http_methods(["GET", "POST"])
def sign_in(request: AppRequest) -> HttpResponse:
    if request.user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request, landing_url(_signed_in_access(request))))
    form = SignInForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        email: str = form.cleaned_data["email"].strip().lower()
        ip = request.client_ip
        verdict = ratelimit.check(email=email, ip=ip)
        if not verdict.allowed:
            return _locked_out(request, form, verdict)
        user = authenticate(request, username=email, password=form.cleaned_data["password"])
        if not isinstance(user, User) or _home_account(user) is None:
            verdict = ratelimit.fail(email=email, ip=ip)
            if verdict.over:
                # Past the limit after all (concurrent attempts all passed the check): answered
                # and left unrecorded like any attempt over it.
                return _locked_out(request, form, verdict)
            known = User.objects.filter(email=email).first()
            services.record_sign_in_failed(
                email=email,
                user=known,
                account=_home_account(known) if known is not None else None,
                request=request_context(request),
            )
            form.add_error(None, "The email or password is not correct.")
            status = 400
        else:
            account = _home_account(user)
            assert account is not None
            login(request, user)
            request.session[SESSION_ACCOUNT] = account.public_id
            mark_authenticated(request)
            services.record_sign_in(user=user, account=account, request=request_context(request))
            return redirect(safe_next(request, landing_url(_signed_in_access(request))))
    elif request.method == "POST":
        status = 400
    next_url = request.GET.get("next", "")
    return render(request, "accounts/sign_in.html", {"form": form, "next": next_url}, status=status)


@require_POST
def sign_out(request: AppRequest) -> HttpResponse:
    user = request.user
    if isinstance(user, User) and user.is_authenticated:
        access = resolve_access(request)
        account = access.home if access else None
        services.record_sign_out(user=user, account=account, request=request_context(request))
    logout(request)
    messages.success(request, "You have signed out.")
    return redirect("ui:sign_in")


@login_required
@require_POST
def switch_account(request: AppRequest) -> HttpResponse:
    """Make another account current: one the user belongs to, or any one for an operator."""
    wanted = request.POST.get("account", "")
    user = request.user
    assert isinstance(user, User)
    found = memberships(user)
    allowed = any(m.account.public_id == wanted for m in found)
    if not allowed and operator_membership(found) is not None:
        allowed = Account.objects.filter(public_id=wanted).exists()
    if not allowed:
        messages.error(request, "That account is not available to you.")
        return redirect(landing_url(_signed_in_access(request)))
    request.session[SESSION_ACCOUNT] = wanted
    access = _signed_in_access(request)
    messages.success(request, f"You are now working in {access.account.name}.")
    # A Member of the new account starts on the page that says what they may do.
    return redirect(landing_url(access))


@login_required
@require_GET
def home(request: AppRequest) -> HttpResponse:
    """``/``: the token list for Administrators, the access page for everyone else."""
    return redirect(landing_url(_signed_in_access(request)))


@login_required
@require_GET
def account_home(request: AppRequest) -> HttpResponse:
    """What the signed-in user may do in the current account, who its Administrators are and
    how to ask them for access: where a Member lands, and a page anyone may open."""
    access = _signed_in_access(request)
    account = access.account
    return render(
        request,
        "accounts/home.html",
        {
            "access": access,
            "administrators": administrators_of(account),
            "is_member": access.role == Role.MEMBER and not access.is_operator,
            "ask_subject": f"Access to the API tokens of {account.name}",
        },
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``. A form posted by someone signed out, whose cookies went with
    their session (a dialog left open, cookies cleared): refused all the same, but sent to
    sign in as ``login_required`` would (htmx: ``HtmxSignInMiddleware`` makes that a whole
    page), not shown a 403 that reads like a missing permission. Signed in, or the sign-in form
    itself: Django's 403."""
    user = getattr(request, "user", None)
    signed_out = user is not None and not user.is_authenticated
    if signed_out and request.path != resolve_url(settings.LOGIN_URL):
        return redirect_to_login(request.get_full_path())
    return csrf.csrf_failure(request, reason)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def pick_account(request: AppRequest) -> HttpResponse:
    """Operations users choose any account to act on; searchable by name or id."""
    access = resolve_access(request)
    if access is None or not access.is_operator:
        raise PermissionDenied("Only Operations administrators can pick any account.")
    q = search_text(request, "q")
    accounts = Account.objects.order_by("name")
    if q:
        accounts = accounts.filter(Q(name__icontains=q) | Q(public_id__icontains=q))
    template = "accounts/pick_account.html"
    if request.htmx:
        template += "#results"
    return render(
        request,
        template,
        {"accounts": list(accounts[:PICKER_LIMIT]), "q": q, "limit": PICKER_LIMIT},
    )
