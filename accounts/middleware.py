"""Django's authentication middleware, plus: the request notes who it loaded, for its log
line (``RequestContextMiddleware``) to name them without loading anyone itself; and an htmx
request without a session goes to sign-in as a whole page, and back (``HtmxSignInMiddleware``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthentication
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

from accounts.models import User
from tokens_admin.requests import AppRequest
from tokens_admin.ui import is_fragment_only


def _load_user(request: AppRequest) -> AbstractBaseUser | AnonymousUser:
    user = auth.get_user(request)
    if isinstance(user, User):
        request.user_id = user.public_id
    return user


class AuthenticationMiddleware(DjangoAuthentication):
    """``request.user`` stays lazy, as Django makes it: the session and the user are read
    only when something asks (a page, ``login_required``), never for the log line."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        app = cast(AppRequest, request)
        request.user = cast(User, SimpleLazyObject(lambda: _load_user(app)))


def _page_to_return_to(request: HttpRequest) -> str:
    """A GET (a dialog opening, a tab, the list redrawn) names a page that also works on its
    own, without JavaScript: that page, so the user comes back to the dialog they asked for.
    A fragment-only GET, or a POST (never replayed): the page the user was on."""
    if request.method == "GET" and not (
        request.resolver_match is not None and is_fragment_only(request.resolver_match.func)
    ):
        return request.get_full_path()
    return _current_page(request)


def _current_page(request: HttpRequest) -> str:
    """The page the user is on, from htmx's ``HX-Current-URL``: its path and query when it is
    this site's, else ``""`` (nobody may send a signed-out user elsewhere after sign-in)."""
    current = request.headers.get("HX-Current-URL", "")
    if not current or not url_has_allowed_host_and_scheme(
        current, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    parts = urlsplit(current)
    if not parts.path.startswith("/") or parts.path == resolve_url(settings.LOGIN_URL):
        return ""
    return parts.path + (f"?{parts.query}" if parts.query else "")


class HtmxSignInMiddleware:
    """``login_required`` answers a request without a session with a 302 to the sign-in page.
    An htmx request follows it silently and swaps the whole sign-in page into the fragment's
    target (a dialog gets a second ``#dialog``). For htmx, the 302 becomes ``HX-Redirect``: the
    browser goes to sign-in as a full page, with ``next`` the page to come back to."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.headers.get("HX-Request") or response.status_code != 302:
            return response
        sign_in = resolve_url(settings.LOGIN_URL)
        if urlsplit(response.get("Location", "")).path != sign_in:
            return response
        page = _page_to_return_to(request)
        target = f"{sign_in}?{urlencode({'next': page})}" if page else sign_in
        redirect = HttpResponseClientRedirect(target)
        patch_vary_headers(redirect, ("HX-Request",))
        return redirect
