"""RQL as the platform speaks it (SPEC section 4.3): parsing (``rql_django`` compiles it).

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
from dataclasses import dataclass, field
from urllib.parse import unquote

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
        text = _decoded(part, position)
        if text == "render()":
            query.render = True
            continue
        key, sep, value = text.partition("=")
        if sep and _NAME_RE.fullmatch(key.split(".")[0]) and "(" not in key:
            _add_parameter(query, key, value, position)
        else:
            _add_term(query, parse_term(text, position))
    return query


def _decoded(part: str, position: int) -> str:
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
    return text


def _add_parameter(query: Query, key: str, value: str, position: int) -> None:
    """``key=value``: a paging or projection parameter, or the ``eq`` shortcut."""
    if key == "limit":
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


def _add_term(query: Query, term: Term) -> None:
    """An RQL term: ``select()``, ``order()``, ``limit()`` or a filter."""
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
