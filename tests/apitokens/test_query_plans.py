"""The token lists read in index order: a page of the default order (newest first, ties by
id) never sorts every token of the account, and a name search is counted from an index
alone. The querysets are the product's own (``apitokens.selectors.tokens_visible_to``, for a page's and an API token's viewer).
SQLite only: its planner does not depend on table statistics, so the plan of a small test
table is the plan of a large one."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import QuerySet

from accounts.access import Access
from accounts.models import Account, Role
from apitokens import api, selectors
from apitokens.models import ApiToken
from tests.factories import AccountFactory, TokenFactory, UserFactory
from tokens_admin.api import Principal

pytestmark = pytest.mark.django_db


@pytest.fixture
def account() -> Account:
    account = AccountFactory()
    TokenFactory.create_batch(3, account=account)
    return account


def page_tokens(account: Account) -> QuerySet[ApiToken]:
    access = Access(
        user=UserFactory(),
        account=account,
        home=account,
        role=Role.ADMINISTRATOR,
        is_operator=False,
    )
    return selectors.tokens_visible_to(access)


def api_tokens(account: Account) -> QuerySet[ApiToken]:
    principal = Principal(
        token_pk=0,
        token_id="TKN-0000-0000",
        token_name="Robot",
        account_pk=account.pk,
        account_id=account.public_id,
        account_name=account.name,
        account_type=account.type,
        load_module_codes=frozenset,
    )
    return selectors.tokens_visible_to(principal)


def plan(queryset: QuerySet[ApiToken]) -> str:
    if connection.vendor != "sqlite":
        pytest.skip("query plans are checked on SQLite")
    return queryset.explain()


@pytest.mark.parametrize(
    ("tokens", "order"),
    [(page_tokens, ("-created_at", "-pk")), (api_tokens, api.DEFAULT_ORDER)],
    ids=["page", "api"],
)
def test_the_default_order_reads_the_index_in_order(account: Account, tokens, order) -> None:
    text = plan(tokens(account).order_by(*order)[4950:5000])
    assert "token_account_created" in text
    assert "TEMP B-TREE" not in text


def test_a_name_search_is_counted_from_the_index_alone(account: Account) -> None:
    # What the API's ilike(name,*…*) and its $meta total run: the rows matching, id only.
    matching = api_tokens(account).filter(name__icontains="sync").values("pk")
    assert "COVERING INDEX token_account_name" in plan(matching)
