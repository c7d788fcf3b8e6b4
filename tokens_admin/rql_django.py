"""RQL compiled to Django queries: a resource's whitelist of fields (``Field``,
``Collection``, ``Resource``) and the ``Compiler`` that turns a parsed ``Query`` into a
filtered, ordered queryset. Only whitelisted fields can be filtered or sorted, so no query
reaches a column that is not listed (the secret, its digest or ciphertext)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, F, OrderBy, Q, QuerySet

from tokens_admin.moments import NotAMoment, parse_moment
from tokens_admin.rql import (
    COMPARISONS,
    LISTS,
    QUANTIFIERS,
    SEARCHES,
    VALUE_TERMS,
    Group,
    Node,
    Query,
    RQLError,
    Term,
    Value,
)


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
    # A null means "never" (an expiry): after every value ascending, first descending, on
    # every database (SQLite and PostgreSQL disagree by default).
    null_is_never: bool = False


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
        try:
            return parse_moment(text)
        except NotAMoment as wrong:
            if wrong.reason.startswith("out of range"):
                raise RQLError(f"{name}: {text!r} is {wrong.reason}") from None
            raise RQLError(f"{name} expects an ISO-8601 date or date-time, got {text!r}") from None
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

    def order_by(self, order: Sequence[str], default: Sequence[str]) -> list[str | OrderBy]:
        result: list[str | OrderBy] = []
        named: set[str] = set()
        for item in order:
            descending = item.startswith("-")
            spec = self.field(item.lstrip("+-"), for_sort=True)
            named.add(spec.lookup)
            if spec.null_is_never:
                column = F(spec.lookup)
                result.append(
                    column.desc(nulls_first=True) if descending else column.asc(nulls_last=True)
                )
            else:
                result.append(("-" if descending else "") + spec.lookup)
        return result + [d for d in default if d.lstrip("-") not in named]

    def apply(
        self, queryset: QuerySet[Any], query: Query, default_order: Sequence[str]
    ) -> QuerySet[Any]:
        for term in query.filters:
            queryset = queryset.filter(self.compile(term))
        return queryset.order_by(*self.order_by(query.order, default_order))
