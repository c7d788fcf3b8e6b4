"""RQL as the platform speaks it (SPEC section 4.3): parsing and compiling to Django queries.

Grammar of one filter term (the query string holds several, joined by ``&``)::

    term    := NAME "(" [ arg { "," arg } ] ")"
    arg     := term | group | value
    group   := "(" [ arg { "," arg } ] ")"
    value   := QUOTED | BARE
    QUOTED  := "'" { any but "'" } "'" | '"' { any but '"' } '"'
    BARE    := { any but "(),'\\"" }+

``null()`` and ``empty()`` are terms with no arguments that stand for values. The parser is
hand-written (lib-rql has no ``any``/``all`` and reports no positions) and bounded: a term
deeper than ``MAX_DEPTH`` or a query longer than ``MAX_QUERY_LENGTH`` is refused before any
work is done. Errors say what is wrong and where.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import unquote

from django.db.models import Exists, Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime

MAX_QUERY_LENGTH = 4096
MAX_DEPTH = 16
MAX_TERMS = 200
DEFAULT_LIMIT = 10
MAX_LIMIT = 100

COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
LISTS = {"in", "out"}
SEARCHES = {"like", "ilike"}
LOGICAL = {"and", "or", "not"}
QUANTIFIERS = {"any", "all"}
VALUE_TERMS = {"null", "empty"}
RESERVED_PARAMS = {"limit", "offset", "order", "ordering", "select"}


class RQLError(ValueError):
    """A query the API cannot answer; the message says why (it becomes a 400 problem)."""


# --- Syntax ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Value:
    text: str
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Term:
    name: str
    args: tuple[Node, ...]
    position: int = 0


Node = Value | Group | Term
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SPECIAL = set("(),'\"")


class _Parser:
    def __init__(self, text: str, offset: int = 0) -> None:
        self.text = text
        self.pos = 0
        self.offset = offset
        self.terms = 0

    def fail(self, message: str) -> RQLError:
        return RQLError(f"{message} at position {self.offset + self.pos + 1}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "end of query"
            raise self.fail(f"expected {char!r} but found {found}")
        self.pos += 1

    def parse_term(self, depth: int) -> Term:
        if depth > MAX_DEPTH:
            raise self.fail(f"query nested deeper than {MAX_DEPTH} levels")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.fail(f"query has more than {MAX_TERMS} terms")
        start = self.pos
        match = _NAME_RE.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected an operator name such as eq(")
        self.pos = match.end()
        name = match.group(0)
        self.expect("(")
        args = self.parse_args(depth)
        self.expect(")")
        return Term(name=name, args=tuple(args), position=self.offset + start + 1)

    def parse_args(self, depth: int) -> list[Node]:
        args: list[Node] = []
        if self.peek() == ")":
            return args
        while True:
            args.append(self.parse_arg(depth))
            if self.peek() != ",":
                return args
            self.pos += 1

    def parse_arg(self, depth: int) -> Node:
        char = self.peek()
        if char == "(":
            if depth + 1 > MAX_DEPTH:
                raise self.fail(f"query nested deeper than {MAX_DEPTH} levels")
            self.pos += 1
            items = self.parse_args(depth + 1)
            self.expect(")")
            return Group(tuple(items))
        if char in ("'", '"'):
            end = self.text.find(char, self.pos + 1)
            if end < 0:
                raise self.fail("unterminated quoted value")
            value = Value(self.text[self.pos + 1 : end], quoted=True)
            self.pos = end + 1
            return value
        match = _NAME_RE.match(self.text, self.pos)
        if match and match.end() < len(self.text) and self.text[match.end()] == "(":
            return self.parse_term(depth + 1)
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _SPECIAL:
            self.pos += 1
        if self.pos == start:
            found = repr(char) if char else "end of query"
            raise self.fail(f"expected a value but found {found}")
        return Value(self.text[start : self.pos])


def parse_term(text: str, offset: int = 0) -> Term:
    parser = _Parser(text, offset)
    term = parser.parse_term(0)
    if parser.pos != len(text):
        raise parser.fail(f"unexpected {text[parser.pos]!r} after the end of the term")
    return term


# --- The query string ------------------------------------------------------------------------


@dataclass(slots=True)
class Query:
    filters: list[Term] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    select: list[str] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    render: bool = False


def _split_top_level(raw: str) -> list[tuple[int, str]]:
    """Split on ``&`` outside parentheses and quotes, keeping each part's position."""
    parts: list[tuple[int, str]] = []
    depth = 0
    quote = ""
    start = 0
    for index, char in enumerate(raw):
        if quote:
            if char == quote:
                quote = ""
        elif char in ("'", '"'):
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "&" and depth <= 0:
            parts.append((start, raw[start:index]))
            start = index + 1
    parts.append((start, raw[start:]))
    return [(pos, part) for pos, part in parts if part]


def _non_negative(name: str, text: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise RQLError(f"{name} must be a whole number of 0 or more, got {text!r}")
    return int(text)


def _signed_list(name: str, text: str) -> list[str]:
    items = text.split(",")
    if not text or any(not item for item in items):
        raise RQLError(f"{name} must be a comma-separated list of fields")
    return items


def parse_query_string(raw: str) -> Query:
    """Parse ``QUERY_STRING``: RQL terms, ``field=value`` shortcuts and the paging params.

    ``+`` is kept as a plus sign (``select=+modules``), not read as a space.
    """
    if len(raw) > MAX_QUERY_LENGTH:
        raise RQLError(f"query string longer than {MAX_QUERY_LENGTH} characters")
    query = Query()
    for position, part in _split_top_level(raw):
        try:
            text = unquote(part, errors="strict")
        except UnicodeDecodeError:
            raise RQLError(f"query part at position {position + 1} is not valid UTF-8") from None
        if "\x00" in text:
            # No stored text holds one (PostgreSQL cannot), and the driver would refuse it.
            raise RQLError(f"query part at position {position + 1} contains a NUL character")
        if text.endswith("=") and "(" in text:
            # HTTP libraries that re-encode a query (httpx) turn a bare term such as
            # render() into "render%28%29=": the same term with an empty value.
            text = text[:-1]
        if text == "render()":
            query.render = True
            continue
        key, sep, value = text.partition("=")
        if sep and _NAME_RE.fullmatch(key.split(".")[0]) and "(" not in key:
            if key in ("limit",):
                query.limit = min(_non_negative("limit", value), MAX_LIMIT)
            elif key == "offset":
                query.offset = _non_negative("offset", value)
            elif key in ("order", "ordering"):
                query.order.extend(_signed_list("order", value))
            elif key == "select":
                # mpt-api-client 5.4 (and so mpt-cli 6) sends "?select=" on every get():
                # an empty select means no projection, not a malformed one.
                if value:
                    query.select.extend(_signed_list("select", value))
            else:
                # Shortcut: status=Active means eq(status,Active).
                query.filters.append(Term("eq", (Value(key), Value(value)), position=position + 1))
            continue
        term = parse_term(text, position)
        if term.name in ("select", "order", "ordering"):
            target = query.select if term.name == "select" else query.order
            for arg in term.args:
                if not isinstance(arg, Value):
                    raise RQLError(f"{term.name}() takes field names only")
                target.append(arg.text)
        elif term.name == "limit":
            values = [a.text for a in term.args if isinstance(a, Value)]
            if not 1 <= len(values) <= 2 or len(values) != len(term.args):
                raise RQLError("limit() takes a limit and an optional offset")
            query.limit = min(_non_negative("limit", values[0]), MAX_LIMIT)
            if len(values) == 2:
                query.offset = _non_negative("offset", values[1])
        else:
            query.filters.append(term)
    return query


# --- Compiling to Django ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """A filterable/sortable field of a resource.

    ``lookup`` is the ORM path. ``relation`` makes the field live on a related many-to-many
    model: then filters become an ``Exists`` subquery (no duplicate rows, no DISTINCT).
    """

    lookup: str
    kind: str = "str"  # str | datetime | int | choice
    choices: tuple[str, ...] = ()
    sortable: bool = True
    filterable: bool = True
    relation: Callable[[Q], Q] | None = None


@dataclass(frozen=True, slots=True)
class Collection:
    """A to-many relation that ``any()``/``all()`` can test: ``exists`` turns a condition on
    the members (written against ``resource``'s fields) into an ``Exists`` on the parent."""

    resource: Resource
    exists: Callable[[Q], Exists]


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    fields: Mapping[str, Field]
    collections: Mapping[str, Collection] = field(default_factory=dict)
    # Custom filters answered by code rather than a column (eq(token,'…') by digest).
    special: Mapping[str, Callable[[str, str], Q]] = field(default_factory=dict)


def _scalar(node: Node, context: str) -> Value | str:
    if isinstance(node, Value):
        return node
    if isinstance(node, Term) and node.name in VALUE_TERMS and not node.args:
        return node.name
    raise RQLError(f"{context} expects a single value")


def _convert(spec: Field, name: str, text: str) -> Any:
    if spec.kind == "datetime":
        wrong = RQLError(f"{name} expects an ISO-8601 date or date-time, got {text!r}")
        try:
            # Both return None for what does not look like a date, and raise ValueError for
            # what looks like one but does not exist (2026-02-30, 25:00).
            parsed = parse_datetime(text)
            day = parse_date(text) if parsed is None else None
        except ValueError:
            raise wrong from None
        if parsed is None:
            if day is None:
                raise wrong
            parsed = datetime.combine(day, time.min)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise RQLError(f"{name}: {text!r} is out of range once converted to UTC") from None
    if spec.kind == "int":
        if not re.fullmatch(r"-?\d{1,18}", text):
            raise RQLError(f"{name} expects a whole number, got {text!r}")
        return int(text)
    if spec.kind == "choice" and text not in spec.choices:
        raise RQLError(f"{name} must be one of {', '.join(spec.choices)}, got {text!r}")
    return text


def _like_q(lookup: str, pattern: str, insensitive: bool) -> Q:
    prefix = "i" if insensitive else ""
    stripped = pattern.strip("*")
    if "*" not in stripped:
        if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
            return Q(**{f"{lookup}__{prefix}contains": stripped})
        if pattern.endswith("*"):
            return Q(**{f"{lookup}__{prefix}startswith": stripped})
        if pattern.startswith("*"):
            return Q(**{f"{lookup}__{prefix}endswith": stripped})
        return Q(**{f"{lookup}__{prefix}exact": pattern}) if insensitive else Q(**{lookup: pattern})
    regex = "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"
    return Q(**{f"{lookup}__{prefix}regex": regex})


class Compiler:
    def __init__(self, resource: Resource) -> None:
        self.resource = resource

    def field(self, name: str, *, for_sort: bool = False) -> Field:
        spec = self.resource.fields.get(name)
        if (
            spec is None
            or (for_sort and not spec.sortable)
            or (not for_sort and not spec.filterable)
        ):
            what = "sort by" if for_sort else "filter on"
            allowed = sorted(
                n
                for n, f in self.resource.fields.items()
                if (f.sortable if for_sort else f.filterable)
            )
            raise RQLError(
                f"cannot {what} {name!r} on {self.resource.name}; allowed: {', '.join(allowed)}"
            )
        return spec

    def compile(self, term: Term) -> Q:
        name = term.name
        if name == "and" or name == "or":
            if not term.args:
                raise RQLError(f"{name}() needs at least one term")
            parts = [self.compile(self._term(arg, name)) for arg in term.args]
            combined = parts[0]
            for part in parts[1:]:
                combined = combined & part if name == "and" else combined | part
            return combined
        if name == "not":
            if len(term.args) != 1:
                raise RQLError("not() takes exactly one term")
            return ~self.compile(self._term(term.args[0], "not"))
        if name in QUANTIFIERS:
            return self._quantifier(term)
        if name in COMPARISONS | SEARCHES | LISTS:
            return self._comparison(term)
        raise RQLError(f"unknown operator {name!r} at position {term.position}")

    def _term(self, node: Node, context: str) -> Term:
        if not isinstance(node, Term):
            raise RQLError(f"{context}() takes terms such as eq(field,value)")
        return node

    def _prop(self, term: Term) -> str:
        if len(term.args) != 2:
            raise RQLError(f"{term.name}() takes a field and a value, at position {term.position}")
        prop = term.args[0]
        if not isinstance(prop, Value) or prop.quoted:
            raise RQLError(f"{term.name}() needs a field name first, at position {term.position}")
        return prop.text

    def _comparison(self, term: Term) -> Q:
        name = self._prop(term)
        if name in self.resource.special and term.name == "eq":
            value = _scalar(term.args[1], "eq()")
            if not isinstance(value, Value):
                raise RQLError(f"eq({name},…) expects a value")
            return self.resource.special[name](name, value.text)
        spec = self.field(name)
        lookup = spec.lookup
        if term.name in LISTS:
            group = term.args[1]
            items = group.items if isinstance(group, Group) else (group,)
            values = []
            for item in items:
                scalar = _scalar(item, f"{term.name}()")
                if not isinstance(scalar, Value):
                    raise RQLError(f"{term.name}() takes plain values")
                values.append(_convert(spec, name, scalar.text))
            q = Q(**{f"{lookup}__in": values})
            q = q if term.name == "in" else ~q
            return self._wrap(spec, q)
        value = _scalar(term.args[1], f"{term.name}()")
        if term.name in SEARCHES:
            if not isinstance(value, Value) or spec.kind not in ("str", "choice"):
                raise RQLError(f"{term.name}() works on text fields with a pattern")
            return self._wrap(spec, _like_q(lookup, value.text, term.name == "ilike"))
        if value == "null":
            if term.name not in ("eq", "ne"):
                raise RQLError("null() can only be compared with eq() or ne()")
            q = Q(**{f"{lookup}__isnull": True})
            return self._wrap(spec, q if term.name == "eq" else ~q)
        if value == "empty":
            if term.name not in ("eq", "ne"):
                raise RQLError("empty() can only be compared with eq() or ne()")
            if spec.kind not in ("str", "choice"):
                raise RQLError(f"empty() applies to text fields; {name} is a {spec.kind}")
            q = Q(**{lookup: ""})
            return self._wrap(spec, q if term.name == "eq" else ~q)
        assert isinstance(value, Value)
        converted = _convert(spec, name, value.text)
        if term.name == "eq":
            return self._wrap(spec, Q(**{lookup: converted}))
        if term.name == "ne":
            return self._wrap(spec, ~Q(**{lookup: converted}))
        suffix = {"gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}[term.name]
        return self._wrap(spec, Q(**{f"{lookup}__{suffix}": converted}))

    def _wrap(self, spec: Field, q: Q) -> Q:
        return spec.relation(q) if spec.relation is not None else q

    def _quantifier(self, term: Term) -> Q:
        if len(term.args) != 2:
            raise RQLError(f"{term.name}() takes a collection and a term")
        prop = term.args[0]
        if not isinstance(prop, Value) or prop.text not in self.resource.collections:
            allowed = ", ".join(sorted(self.resource.collections)) or "none"
            raise RQLError(f"{term.name}() works on collections: {allowed}")
        inner_term = self._term(term.args[1], term.name)
        collection = self.resource.collections[prop.text]
        inner = Compiler(collection.resource).compile(inner_term)
        if term.name == "any":
            return Q(collection.exists(inner))
        # all(): no member fails the condition.
        return ~Q(collection.exists(~inner))

    def order_by(self, order: Sequence[str], default: Sequence[str]) -> list[str]:
        result: list[str] = []
        for item in order:
            descending = item.startswith("-")
            name = item.lstrip("+-")
            spec = self.field(name, for_sort=True)
            result.append(("-" if descending else "") + spec.lookup)
        return result + [d for d in default if d.lstrip("-") not in {r.lstrip("-") for r in result}]

    def apply(
        self, queryset: QuerySet[Any], query: Query, default_order: Sequence[str]
    ) -> QuerySet[Any]:
        for term in query.filters:
            queryset = queryset.filter(self.compile(term))
        return queryset.order_by(*self.order_by(query.order, default_order))
