"""Shared helpers of the security suite (issue 6).

Rate-limit counters live in the shared cache, which is Redis when the suite runs with
REDIS_URL; other people's data may live there too, so nothing here clears the cache. Each test
that fails authentication on purpose does it from an address of its own (``fresh_ip``) and, when
it moves the limiter's clock, to a window of its own.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

import pytest
from django.test import Client

from accounts.models import Account
from apitokens.models import ApiToken
from audit.models import AuditRecord
from tests.factories import TokenFactory
from tests.ui.conftest import SecureClient

TOKENS_URL = "/public/v1/accounts/api-tokens"


@pytest.fixture
def fresh_ip() -> str:
    """An address no other test (nor an earlier run against the same Redis) has used."""
    return str(ipaddress.IPv4Address("198.18.0.0") + secrets.randbelow(2**17))


@pytest.fixture
def browser() -> Client:
    """The UI over HTTPS, answering errors with pages the way a server does (no re-raise)."""
    return SecureClient(raise_request_exception=False)


@pytest.fixture
def robot(acme: Account) -> ApiToken:
    """An Access Management token of Acme; ``robot.plain_value`` is its value."""
    return TokenFactory(account=acme, name="Robot", modules=["MOD-1756"])


def bearer(token: ApiToken, **extra: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token.plain_value}", **extra}  # type: ignore[attr-defined]


def everything() -> dict[str, Any]:
    """What a fault must leave untouched: every token row (and its modules) and every record."""
    return {
        "tokens": [
            (t.public_id, t.name, t.description, t.status, t.icon, t.updated_at)
            for t in ApiToken.objects.order_by("pk")
        ],
        "modules": sorted(ApiToken.modules.through.objects.values_list("apitoken_id", "module_id")),
        "records": list(AuditRecord.objects.order_by("pk").values_list("public_id", flat=True)),
    }
