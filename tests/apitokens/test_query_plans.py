"""The token lists read in index order: a page of the default order (newest first, ties by
id) never sorts every token of the account. SQLite only: its planner does not depend on
table statistics, so the plan of a small test table is the plan of a large one."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import Account, Role
from apitokens import api, views
from apitokens.models import ApiToken, TokenStatus
from tests.factories import AccountFactory, TokenFactory, UserFactory
from tokens_admin.ui import Access

pytestmark = pytest.mark.django_db


@pytest.fixture
def account() -> Account:
    account = AccountFactory()
    TokenFactory.create_batch(3, account=account)
    return account


def plan(queryset: object) -> str:
    if connection.vendor != "sqlite":
        pytest.skip("query plans are checked on SQLite")
    return queryset.explain()  # type: ignore[attr-defined,no-any-return]


def test_the_list_page_default_order_reads_the_index_in_order(account: Account) -> None:
    access = Access(
        user=UserFactory(),
        account=account,
        home=account,
        role=Role.ADMINISTRATOR,
        is_operator=False,
    )
    page = views.visible_tokens(access).order_by("-created_at", "-pk")[4950:5000]
    text = plan(page)
    assert "token_account_created" in text
    assert "TEMP B-TREE" not in text


def test_the_api_default_order_reads_the_index_in_order(account: Account) -> None:
    tokens = (
        ApiToken.objects.filter(account=account)
        .exclude(status=TokenStatus.DELETED)
        .order_by(*api.DEFAULT_ORDER)[:100]
    )
    text = plan(tokens)
    assert "token_account_created" in text
    assert "TEMP B-TREE" not in text


def test_a_name_search_is_counted_from_the_index_alone(account: Account) -> None:
    # What the API's ilike(name,*…*) and its $meta total run: the rows matching, id only.
    matching = (
        ApiToken.objects.filter(account=account)
        .exclude(status=TokenStatus.DELETED)
        .filter(name__icontains="sync")
        .values("pk")
    )
    assert "COVERING INDEX token_account_name" in plan(matching)
