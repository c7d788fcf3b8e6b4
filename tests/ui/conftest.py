from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.access import SESSION_ACCOUNT, SESSION_AUTHENTICATED_AT
from accounts.models import User


class SecureClient(Client):
    """The test client over HTTPS, as every real request is (cookies are Secure)."""

    def generic(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["secure"] = True
        return super().generic(*args, **kwargs)


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    # Sign-in failure counters live in the cache; no test may inherit another's.
    cache.clear()


@pytest.fixture
def client() -> SecureClient:
    return SecureClient()


def sign_in(
    client: Client, user: User, *, account: str | None = None, fresh: bool = True
) -> Client:
    """Signed in as ``user``; ``fresh`` as if the password was typed just now."""
    client.force_login(user)
    session = client.session
    if account is not None:
        session[SESSION_ACCOUNT] = account
    if fresh:
        session[SESSION_AUTHENTICATED_AT] = time.time()
    session.save()
    return client


def htmx(**extra: str) -> dict[str, str]:
    return {"HTTP_HX_REQUEST": "true", **{f"HTTP_{k.upper()}": v for k, v in extra.items()}}
