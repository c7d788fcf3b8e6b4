"""Fixtures of the api-tokens resource's tests: an Access Management token of acme and an
Operations token with Platform Account Management, each as a tiny client (``test_api.Api``)."""

from __future__ import annotations

import pytest

from tests.apitokens.test_api import Api
from tests.factories import TokenFactory


@pytest.fixture
def admin_token(acme):
    return TokenFactory(account=acme, name="Admin robot", modules=["MOD-1756"])


@pytest.fixture
def api(client, admin_token):
    return Api(client, admin_token.plain_value)


@pytest.fixture
def ops_api(client, ops_account):
    token = TokenFactory(account=ops_account, name="Ops robot", modules=["MOD-6271", "MOD-1756"])
    return Api(client, token.plain_value)
