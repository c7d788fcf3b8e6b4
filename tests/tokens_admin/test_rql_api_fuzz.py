"""Generated RQL queries against every list endpoint: a 200 or a 400 problem, never a 5xx.

The Schemathesis run cannot reach this: a filter is free-form query text, not a parameter the
OpenAPI document can describe. These queries use each resource's real field names (and a few
forbidden ones), every operator, and values chosen to hurt: impossible and unrepresentable
dates, NUL, quotes, wildcards, non-ASCII text.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.api import MODULES
from apitokens import middleware
from apitokens.api import TOKENS
from audit.api import EVENT_TYPES, RECORDS
from tests.apitokens.test_api import Api
from tests.factories import AccountFactory, TokenFactory
from tokens_admin.rql_django import Resource

ENDPOINTS = {
    "/public/v1/accounts/api-tokens": TOKENS,
    "/public/v1/accounts/modules": MODULES,
    "/public/v1/audit/records": RECORDS,
    "/public/v1/audit/event-types": EVENT_TYPES,
}
TEXT_NASTY = ["\x00", "a'b", 'a"b', "*", "**", "a*b*c", "Zoë", "", "null()", "empty()"]
DATE_NASTY = [
    "2026-02-30",
    "2026-01-01T25:00:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01",
    "9999-12-31T23:59:59.999999Z",
    "2026-11-22T10:00:00.123Z",
    "2026-11-22",
]


def value(kind: str) -> st.SearchStrategy[str]:
    """Values for a field of ``kind``: mostly ones that fit it badly or barely."""
    if kind == "datetime":
        return st.one_of(
            st.sampled_from(DATE_NASTY),
            st.from_regex(
                r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|Z)?)?", fullmatch=True
            ),
            st.sampled_from(TEXT_NASTY),
        )
    return st.one_of(st.sampled_from(TEXT_NASTY + DATE_NASTY), st.text(max_size=12))


def rendered(text: str) -> st.SearchStrategy[str]:
    """A value as clients send it: bare, or quoted and percent-encoded (mpt-api-client)."""
    return st.sampled_from(
        [quote(text, safe="*"), f"'{quote(text, safe='*')}'", f'"{quote(text, safe="*")}"']
    )


def leaf(name: str, kind: str) -> st.SearchStrategy[str]:
    one = value(kind).flatmap(rendered)
    return st.one_of(
        st.builds(
            lambda op, v: f"{op}({name},{v})",
            st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le", "like", "ilike"]),
            one,
        ),
        st.builds(
            lambda op, vs: f"{op}({name},({','.join(vs)}))",
            st.sampled_from(["in", "out"]),
            st.lists(one, max_size=3),
        ),
        st.builds(
            lambda op, v: f"{op}({name},{v}())",
            st.sampled_from(["eq", "ne", "gt"]),
            st.sampled_from(["null", "empty"]),
        ),
    )


def terms(resource: Resource) -> st.SearchStrategy[str]:
    fields = [(name, spec.kind) for name, spec in resource.fields.items()]
    fields += [("digest", "str"), ("nope", "datetime"), ("modules", "str")]
    leaves = st.sampled_from(fields).flatmap(lambda field: leaf(*field))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(lambda a: f"not({a})", inner),
            st.builds(
                lambda op, xs: f"{op}({','.join(xs)})",
                st.sampled_from(["and", "or"]),
                st.lists(inner, min_size=1, max_size=3),
            ),
            st.builds(lambda x: f"any(modules,{x})", inner),
            st.builds(lambda x: f"all(modules,{x})", inner),
        ),
        max_leaves=4,
    )


def query_strings() -> st.SearchStrategy[tuple[str, str]]:
    def for_endpoint(path: str) -> st.SearchStrategy[tuple[str, str]]:
        fields = list(ENDPOINTS[path].fields)
        extras = st.lists(
            st.sampled_from(
                [f"order=-{fields[0]}", "limit=0", "limit=1000", "offset=3", "select=+modules"]
            ),
            max_size=2,
        )
        return st.builds(lambda t, e: (path, "&".join([t, *e])), terms(ENDPOINTS[path]), extras)

    return st.sampled_from(sorted(ENDPOINTS)).flatmap(for_endpoint)


@pytest.fixture
def ops_api(client, db, monkeypatch):
    """An operator's token passes every endpoint's scope, so the queries reach the compiler.
    Failed authentications of other tests (counted per address, in Redis when the run has it)
    must not turn these requests into 429s."""
    monkeypatch.setattr(middleware.auth_failures, "limit", 10**9)
    TokenFactory(account=AccountFactory(name="Acme"), name="Zoë's robot", modules=["MOD-1756"])
    ops = AccountFactory(name="Operations", operations=True)
    return Api(client, TokenFactory(account=ops, modules=["MOD-6271"]).plain_value)


@settings(max_examples=250)
@given(request=query_strings())
def test_generated_queries_get_a_page_or_a_400_problem(ops_api, request):
    path, query = request
    response = ops_api.get(path, query)
    assert response.status_code in (200, 400), (path, query, response.content[:300])
    expected = "application/json" if response.status_code == 200 else "application/problem+json"
    assert response["Content-Type"] == expected
