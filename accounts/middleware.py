"""Django's authentication middleware, plus: the request notes who it loaded, for its log
line (``RequestContextMiddleware``) to name them without loading anyone itself."""

from __future__ import annotations

from typing import cast

from django.contrib import auth
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthentication
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.models import User
from tokens_admin.requests import AppRequest


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
