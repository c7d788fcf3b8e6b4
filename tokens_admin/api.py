"""The small shared toolkit of the REST API: who is calling, what an endpoint needs, JSON in
and out, paging envelopes, and one place where every error becomes a problem response."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, wraps
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from tokens_admin.errors import DomainError, ValidationFailed
from tokens_admin.problems import api_headers, problem, unavailable
from tokens_admin.requests import ApiRequest
from tokens_admin.rql import Query, RQLError, parse_query_string

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
JSON_TYPES = ("application/json", "text/json")


@dataclass
class Principal:
    """The authenticated API token, as plain data (set by the Bearer middleware)."""

    token_pk: int
    token_id: str
    token_name: str
    account_pk: int
    account_id: str
    account_name: str
    account_type: str
    load_module_codes: Callable[[], frozenset[str]]

    @cached_property
    def module_codes(self) -> frozenset[str]:
        """Fetched on first use: endpoints that check no module never pay for the query."""
        return self.load_module_codes()

    @property
    def is_operations(self) -> bool:
        return self.account_type == "Operations"

    @property
    def sees_all_accounts(self) -> bool:
        return self.is_operations and "platform-account-management" in self.module_codes

    # What the token may see (``apitokens.selectors.Viewer``): every account's tokens, Deleted
    # ones included, only with Platform Account Management.
    @property
    def visible_account_pk(self) -> int | None:
        return None if self.sees_all_accounts else self.account_pk

    @property
    def sees_deleted(self) -> bool:
        return self.sees_all_accounts


@dataclass(frozen=True, slots=True)
class Scope:
    """What an endpoint needs: any one of ``modules`` (when given), an account of one of
    ``account_types`` (when given). ``self_param`` names the URL argument that, when it is the
    caller's own token id, lets a GET through whatever the modules (a token can read itself)."""

    modules: tuple[str, ...] = ()
    account_types: tuple[str, ...] = ()
    self_param: str | None = None
    # The methods a token may use on itself whatever its modules (a robot rotates itself).
    self_methods: tuple[str, ...] = ("GET",)

    def allows(self, principal: Principal, method: str, kwargs: Mapping[str, Any]) -> bool:
        if (
            self.self_param
            and method in self.self_methods
            and kwargs.get(self.self_param) == principal.token_id
        ):
            return True
        if self.account_types and principal.account_type not in self.account_types:
            return False
        return not self.modules or bool(principal.module_codes & set(self.modules))


def principal_of(request: ApiRequest) -> Principal:
    """The caller: the Bearer middleware sets it on every request under ``/public/``."""
    try:
        return request.api_principal
    except AttributeError:  # only if MIDDLEWARE lost the Bearer middleware
        raise RuntimeError("API view reached without an authenticated principal") from None


class BodyError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    if media in JSON_TYPES:
        return True
    kind, _, subtype = media.partition("/")
    return kind == "application" and subtype.endswith("+json")


def json_body(request: HttpRequest, *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object; refused before parsing when too big or not JSON."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BodyError(400, "Content-Length is not a number.") from None
    if length > MAX_BODY_BYTES:
        raise BodyError(413, f"The body is larger than {MAX_BODY_BYTES} bytes.")
    raw = (
        request.read(MAX_BODY_BYTES + 1)
        if length or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        else b""
    )
    if len(raw) > MAX_BODY_BYTES:
        raise BodyError(413, f"The body is larger than {MAX_BODY_BYTES} bytes.")
    if not raw.strip():
        if optional:
            return {}
        raise BodyError(400, "A JSON object body is required.")
    content_type = request.META.get("CONTENT_TYPE", "")
    if not _is_json_type(content_type):
        raise BodyError(
            415, "Send the body as application/json (or text/json, application/*+json)."
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BodyError(400, "The body is not valid UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise BodyError(
            400, f"Malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    except RecursionError:
        raise BodyError(400, "Malformed JSON: nested too deeply.") from None
    if not isinstance(data, dict):
        raise BodyError(400, "The body must be a JSON object.")
    if _holds_nul(data):
        raise BodyError(400, NUL_REFUSED)
    return data


NUL_REFUSED = "Text must not contain the NUL character (U+0000)."


def _holds_nul(value: Any) -> bool:
    """Whether a string anywhere in parsed JSON (keys included) holds U+0000, which JSON
    allows as "\\u0000" but PostgreSQL stores in neither text nor jsonb. Iterative: a body
    nested as deep as the parser allows must not exhaust the stack here."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def refuse_unknown_fields(data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationFailed({name: ["Unknown field."] for name in unknown})


def iso(moment: datetime | None) -> str | None:
    """UTC ISO-8601 with milliseconds and Z, as the platform writes timestamps."""
    if moment is None:
        return None
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def drop_nulls(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


def json_response(data: Any, status: int = 200) -> HttpResponse:
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type="application/json",
    )
    return api_headers(response)


def collection(
    data: list[dict[str, Any]], *, query: Query, total: int, omitted: Iterable[str] = ()
) -> HttpResponse:
    meta: dict[str, Any] = {
        "pagination": {"offset": query.offset, "limit": query.limit, "total": total}
    }
    omitted = list(omitted)
    if omitted:
        meta["omitted"] = omitted
    return json_response({"$meta": meta, "data": data})


def query_of(request: HttpRequest, *, render: bool = False) -> Query:
    """The parsed query string; ``render`` says whether the resource has templates to fill
    (``render()`` is refused otherwise rather than silently ignored)."""
    query = parse_query_string(request.META.get("QUERY_STRING", ""))
    if query.render and not render:
        raise RQLError("render() is not supported on this resource (it has no templates)")
    return query


@dataclass(frozen=True, slots=True)
class Selection:
    """What one request asked ``select`` for: the top-level fields to return, in order, and
    the nested paths (``actor.account``) to leave out of them."""

    fields: tuple[str, ...]
    dropped: tuple[tuple[str, ...], ...] = ()

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        kept = {key: data[key] for key in self.fields if key in data}
        for path in self.dropped:
            _drop_path(kept, path)
        return kept


def _drop_path(data: dict[str, Any], path: tuple[str, ...]) -> None:
    *parents, leaf = path
    for part in parents:
        child = data.get(part)
        if not isinstance(child, dict):
            return
        # A copy: the same nested dict may be shared by several objects of one page.
        data[part] = data = dict(child)
    data.pop(leaf, None)


@dataclass(frozen=True, slots=True)
class Projection:
    """The fields a resource returns by default and those it returns only when selected.

    ``select`` follows the platform's RQL (django-rql's): ``+field`` and a bare ``field``
    add a field, ``-field`` leaves one out; a dotted path (``-actor.account``) works inside
    an object field; ``id`` is always returned. An unknown field is a 400, never ignored.
    """

    default: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def known(self) -> tuple[str, ...]:
        return (*self.default, *self.optional)

    def select(self, query: Query) -> Selection:
        fields = list(self.default)
        dropped: list[tuple[str, ...]] = []
        for item in query.select:
            remove = item.startswith("-")
            path = tuple(item.removeprefix("-").removeprefix("+").split("."))
            if path[0] not in self.known or not all(path):
                raise RQLError(
                    f"cannot select {item.lstrip('+-')!r}; allowed: {', '.join(self.known)}"
                )
            if path[0] == "id" and remove:
                raise RQLError("id cannot be left out")
            if remove and len(path) > 1:
                dropped.append(path)
            elif remove:
                fields = [name for name in fields if name != path[0]]
            elif path[0] not in fields:
                fields.append(path[0])
        return Selection(tuple(fields), tuple(dropped))

    def omitted(self, selection: Selection) -> list[str]:
        return [name for name in self.optional if name not in selection]


Handler = Callable[..., HttpResponse]
EndpointView = Callable[..., HttpResponse]

# Each view ``endpoint`` built, with its handlers by method (for the OpenAPI tests).
_HANDLERS: dict[EndpointView, Mapping[str, Handler]] = {}


def handlers_of(view: EndpointView) -> Mapping[str, Handler]:
    """The per-method handlers of a view ``endpoint`` built."""
    return _HANDLERS[view]


def _answer(
    handler: Handler, request: ApiRequest, principal: Principal, kwargs: dict[str, Any]
) -> HttpResponse:
    """The handler's response, or the problem response for the error it raised."""
    try:
        return handler(request, principal, **kwargs)
    except BodyError as exc:
        return problem(request, exc.status, exc.detail)
    except RQLError as exc:
        return problem(request, 400, f"Invalid query: {exc}", kind="invalid-query")
    except ValidationFailed as exc:
        detail = exc.message if exc.status != 400 else "One or more fields are invalid."
        return problem(request, exc.status, detail, errors=exc.errors)
    except DomainError as exc:
        # NotFound 404, Conflict 409, an invalid transition 400 (see each error's status).
        return problem(request, exc.status, exc.message)
    except DatabaseError as exc:
        logger.error("database error in API request: %s", type(exc).__name__)
        return unavailable(request)


def endpoint(
    scope: Scope | None = None, *, write_scope: Scope | None = None, **handlers: Handler
) -> EndpointView:
    """Build a view from per-method handlers (``GET=list_tokens, POST=create_token``).

    ``scope`` applies to every method; ``write_scope`` additionally to all but GET.

    The one place where: the method is checked (405 with ``Allow``), the scope is checked
    (403 ``insufficient_scope``), and every error is turned into a problem response.
    """
    allowed = sorted(handlers)

    @csrf_exempt
    def view(request: ApiRequest, **kwargs: Any) -> HttpResponse:
        handler = handlers.get(request.method or "")
        if handler is None:
            return problem(
                request,
                405,
                f"{request.method} is not allowed here; use {', '.join(allowed)}.",
                headers={"Allow": ", ".join(allowed)},
            )
        if any("\x00" in str(value) for value in kwargs.values()):
            # No id holds U+0000 (and PostgreSQL could not even compare one).
            return problem(request, 404, f"No API resource at {request.path}.")
        principal = principal_of(request)
        method = request.method or ""
        scopes = [scope, write_scope if method != "GET" else None]
        if any(s is not None and not s.allows(principal, method, kwargs) for s in scopes):
            return problem(
                request,
                403,
                "This API token does not grant access to this resource.",
                kind="insufficient-scope",
                headers={"WWW-Authenticate": 'Bearer realm="api", error="insufficient_scope"'},
            )
        return _answer(handler, request, principal, kwargs)

    wraps(next(iter(handlers.values())))(view)
    _HANDLERS[view] = dict(handlers)
    return view
