"""The RQL parser: grammar cases, bounded work, and properties over generated queries."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokens_admin import rql
from tokens_admin.rql import Group, RQLError, Term, Value, parse_query_string, parse_term


def test_it_parses_nested_terms_quotes_groups_and_value_terms():
    term = parse_term("and(eq(status,Active),ilike(name,'*bot, v2*'),in(id,(A,B)),eq(x,null()))")
    assert term.name == "and"
    eq, ilike, in_, null = term.args
    assert eq == Term("eq", (Value("status"), Value("Active")), position=5)
    assert ilike.args[1] == Value("*bot, v2*", quoted=True)
    assert in_.args[1] == Group((Value("A"), Value("B")))
    assert null.args[1] == Term("null", (), position=null.args[1].position)


def test_it_reads_the_query_string_with_shortcuts_paging_order_and_select():
    query = parse_query_string(
        "and(eq(status,Active),ilike(name,*bot*))&name=Robot&order=-audit.created.at,+name"
        "&select=+modules,-description&limit=25&offset=50"
    )
    assert [t.name for t in query.filters] == ["and", "eq"]
    assert query.filters[1].args == (Value("name"), Value("Robot"))
    assert query.order == ["-audit.created.at", "+name"]
    assert query.select == ["+modules", "-description"]
    assert (query.limit, query.offset) == (25, 50)


def test_it_keeps_plus_signs_and_decodes_percent_escapes():
    query = parse_query_string("select=%2Bmodules&eq(name,Robot%20One)")
    assert query.select == ["+modules"]
    assert query.filters[0].args[1] == Value("Robot One")


def test_it_caps_the_limit_and_accepts_zero():
    assert parse_query_string("limit=1000").limit == rql.MAX_LIMIT
    assert parse_query_string("limit=0").limit == 0


def test_an_empty_select_means_no_projection():
    # mpt-api-client 5.4, which mpt-cli 6 pins, sends "?select=" on every get().
    assert parse_query_string("select=").select == []
    assert parse_query_string("select=&select=+modules").select == ["+modules"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("eq(status,Active", "expected ')'"),
        ("eq(status,Active))", "unexpected ')'"),
        ("eq(status,'Active)", "unterminated"),
        ("(eq(a,b))", "operator name"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("offset=1.5", "offset"),
        ("order=", "order"),
        ("select=a,,b", "select"),
        ("eq(status,)", "expected a value"),
        ("%ff", "UTF-8"),
    ],
)
def test_it_refuses_malformed_queries_with_a_reason(raw, fragment):
    with pytest.raises(RQLError) as caught:
        parse_query_string(raw)
    assert fragment in str(caught.value)


def test_it_refuses_extreme_depth_and_length_quickly():
    deep = "not(" * 5000 + "eq(a,b)" + ")" * 5000
    started = time.perf_counter()
    with pytest.raises(RQLError):
        parse_query_string(deep)
    with pytest.raises(RQLError, match="deeper"):
        parse_term("not(" * (rql.MAX_DEPTH + 2) + "eq(a,b)" + ")" * (rql.MAX_DEPTH + 2))
    with pytest.raises(RQLError, match="more than"):
        parse_term("and(" + ",".join(f"eq(a,{i})" for i in range(rql.MAX_TERMS + 1)) + ")")
    with pytest.raises(RQLError, match="longer than"):
        parse_query_string("eq(a," + "b" * rql.MAX_QUERY_LENGTH + ")")
    assert time.perf_counter() - started < 5  # generous: the point is "no runaway work"


# --- Properties ------------------------------------------------------------------------------

names = st.sampled_from(["eq", "ne", "gt", "lt", "like", "ilike", "in", "and", "or", "not", "any"])
bare = st.text(
    alphabet=st.characters(exclude_characters="(),'\"&%", codec="utf-8"), min_size=1, max_size=12
)


@st.composite
def terms(draw, depth=0):
    name = draw(names)
    if depth >= 3 or draw(st.booleans()):
        args = [draw(bare), draw(bare)]
        return f"{name}({','.join(args)})", Term(name, tuple(Value(a) for a in args))
    children = draw(st.lists(terms(depth=depth + 1), min_size=1, max_size=3))
    text = f"{name}({','.join(c[0] for c in children)})"
    return text, Term(name, tuple(c[1] for c in children))


def strip_positions(node):
    if isinstance(node, Term):
        return Term(node.name, tuple(strip_positions(a) for a in node.args))
    if isinstance(node, Group):
        return Group(tuple(strip_positions(a) for a in node.items))
    return node


@given(terms())
def test_it_round_trips_generated_terms(pair):
    text, expected = pair
    assert strip_positions(parse_term(text)) == expected


@given(st.text(max_size=300))
def test_it_never_raises_anything_but_rql_error(raw):
    with contextlib.suppress(RQLError):
        parse_query_string(raw)
