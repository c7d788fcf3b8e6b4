"""Bearer authentication for everything under ``/public/`` (SPEC section 4.1, RFC 6750).

Per request: one indexed SELECT of the token (with its account) by the id inside the value,
then a constant-time compare of HMAC digests. No cache sits in front of that SELECT, so a
token disabled or deleted on any process stops working on the very next request. The SELECT
is compiled by the ORM once and then run straight on a cursor (``TokenLookup``): building a
queryset costs ten times what the query itself does (see docs/performance.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import DatabaseError, connections, router
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import AccountStatus
from apitokens import secrets as token_secrets
from apitokens import services
from apitokens.models import ApiToken, TokenStatus
from tokens_admin.api import Principal, request_context
from tokens_admin.problems import api_headers, problem
from tokens_admin.ratelimit import FailureLimiter

logger = logging.getLogger(__name__)

API_PREFIX = "/public/"
PUBLIC_PATHS = frozenset({"/public/v1/openapi.json"})
REALM = 'Bearer realm="api"'
# RFC 6750 b64token, plus ":" which the platform's own value format contains.
_CREDENTIALS_RE = re.compile(r"[A-Za-z0-9\-._~+/:]+=*")
LAST_ACCESS_INTERVAL = timedelta(minutes=1)
INVALID_TOKEN_DETAIL = "The API token is invalid."  # noqa: S105 - a message

# Every API request is checked, so the shared store is asked only about addresses this
# process saw fail (a Redis round trip per valid request otherwise; docs/decisions.md).
auth_failures = FailureLimiter(
    "api-auth",
    limit=settings.API_AUTH_FAILURE_LIMIT,
    window_seconds=settings.API_AUTH_FAILURE_WINDOW,
    suspects_only=True,
)


def _challenge(error: str | None = None) -> str:
    return REALM if error is None else f'{REALM}, error="{error}"'


def _unauthorized(request: HttpRequest, detail: str, error: str | None) -> HttpResponse:
    return problem(
        request,
        401,
        detail,
        kind="unauthorized" if error is None else error.replace("_", "-"),
        headers={"WWW-Authenticate": _challenge(error)},
    )


def _invalid_request(request: HttpRequest, detail: str) -> HttpResponse:
    return problem(
        request,
        400,
        detail,
        kind="invalid-request",
        headers={"WWW-Authenticate": _challenge("invalid_request")},
    )


class Credential(NamedTuple):
    """What authentication reads of a token and its account (one row, no model instance)."""

    pk: int
    public_id: str
    name: str
    digest: str
    status: str
    last_access_at: datetime | None
    account_pk: int
    account_id: str
    account_name: str
    account_type: str
    account_status: str


class TokenLookup:
    """``SELECT <Credential's columns> FROM token JOIN account WHERE token.public_id = %s``.

    The ORM builds and compiles the query once per database alias (so it follows the models
    and the backend); each call then only runs it on a cursor and applies the backend's value
    converters (SQLite's datetimes). Building a queryset per request cost several hundred
    microseconds of CPU, ten times the indexed SELECT itself.
    """

    FIELDS = (
        "pk",
        "public_id",
        "name",
        "digest",
        "status",
        "last_access_at",
        "account_id",
        "account__public_id",
        "account__name",
        "account__type",
        "account__status",
    )
    _PLACEHOLDER = "TKN-0000-0000"

    def __init__(self) -> None:
        self._compiled: dict[str, tuple[str, dict[int, tuple[list[Any], Any]]]] = {}

    def _compile(self, alias: str) -> tuple[str, dict[int, tuple[list[Any], Any]]]:
        query = (
            ApiToken.objects.using(alias)
            .filter(public_id=self._PLACEHOLDER)
            .values_list(*self.FIELDS)[:1]
            .query
        )
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        if tuple(params) != (self._PLACEHOLDER,):  # pragma: no cover - a changed query shape
            raise RuntimeError(f"unexpected parameters in the token lookup: {params!r}")
        converters = compiler.get_converters([column for column, _, _ in compiler.select])
        return sql, converters

    def __call__(self, token_id: str) -> Credential | None:
        alias = router.db_for_read(ApiToken)
        compiled = self._compiled.get(alias)
        if compiled is None:
            compiled = self._compiled[alias] = self._compile(alias)
        sql, converters = compiled
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(sql, [token_id])
            row = cursor.fetchone()
        if row is None:
            return None
        if converters:
            values = list(row)
            for position, (functions, expression) in converters.items():
                for convert in functions:
                    values[position] = convert(values[position], expression, connection)
            row = values
        return Credential._make(row)


lookup_token = TokenLookup()


class BearerAuthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if not request.is_secure():
            return self._plain_http(request)
        if request.path in PUBLIC_PATHS:
            return api_headers(self.get_response(request))
        try:
            outcome = self._authenticate(request)
        except DatabaseError as exc:
            logger.error("database unavailable during authentication: %s", type(exc).__name__)
            return problem(
                request,
                503,
                "The service is temporarily unavailable. Try again shortly.",
                headers={"Retry-After": "5"},
            )
        if isinstance(outcome, HttpResponse):
            return outcome
        token = outcome
        response = api_headers(self.get_response(request))
        if token.last_access_at is None or (
            timezone.now() - token.last_access_at >= LAST_ACCESS_INTERVAL
        ):
            # After the response is sent (Django closes the response once the server has
            # written it), so the write adds nothing to this request's latency.
            response._resource_closers.append(lambda: _touch(token.pk))  # type: ignore[attr-defined]
        return response

    def _plain_http(self, request: HttpRequest) -> HttpResponse:
        """403, no redirect, no change; a valid value seen in clear text is recorded."""
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            parsed = token_secrets.parse_value(credentials.strip())
            if parsed is not None:
                try:
                    token = (
                        ApiToken.objects.select_related("account")
                        .filter(public_id=parsed.token_id)
                        .first()
                    )
                    if token is not None and token_secrets.verify(
                        parsed.value, token.digest, settings.TOKEN_PEPPER
                    ):
                        services.record_exposure(token=token, request=request_context(request))
                except DatabaseError:
                    logger.error("could not record a token exposure: database unavailable")
        return problem(
            request,
            403,
            "The API is only available over HTTPS.",
            kind="https-required",
        )

    def _authenticate(self, request: HttpRequest) -> Credential | HttpResponse:
        ip = getattr(request, "client_ip", "")
        # (QUERY_STRING first: most calls have none, and parsing one costs more than the check.)
        if request.META.get("QUERY_STRING") and "access_token" in request.GET:
            return _invalid_request(
                request, "Send the token in the Authorization header, not in the URL."
            )
        headers = request.META.get("HTTP_AUTHORIZATION")
        if headers is None:
            return _unauthorized(request, "Authentication credentials were not provided.", None)
        # Only optional whitespace (space, tab) surrounds a header value (RFC 9110 5.5).
        scheme, _, credentials = headers.strip(" \t").partition(" ")
        if scheme.lower() != "bearer":
            return _unauthorized(request, "Use the Bearer authentication scheme.", None)
        credentials = credentials.strip(" \t")
        if not credentials:
            return _invalid_request(request, "The Bearer credentials are empty.")
        if not _CREDENTIALS_RE.fullmatch(credentials):
            return _invalid_request(
                request, "The Authorization header must hold exactly one Bearer token."
            )
        verdict = auth_failures.check(ip)
        if not verdict.allowed:
            return problem(
                request,
                429,
                "Too many failed authentication attempts. Try again later.",
                headers={"Retry-After": str(verdict.retry_after)},
            )
        parsed = token_secrets.parse_value(credentials)
        token = lookup_token(parsed.token_id) if parsed is not None else None
        if (
            parsed is None
            or token is None
            or not token_secrets.verify(parsed.value, token.digest, settings.TOKEN_PEPPER)
            or token.status == TokenStatus.DELETED
        ):
            auth_failures.fail(ip)
            return _unauthorized(request, INVALID_TOKEN_DETAIL, "invalid_token")
        if token.status == TokenStatus.DISABLED:
            return _unauthorized(request, "The API token is disabled.", "invalid_token")
        if token.account_status != AccountStatus.ACTIVE:
            return _unauthorized(request, "The API token's account is disabled.", "invalid_token")
        request.api_token_id = token.public_id  # type: ignore[attr-defined]
        request.api_principal = Principal(  # type: ignore[attr-defined]
            token_pk=token.pk,
            token_id=token.public_id,
            token_name=token.name,
            account_pk=token.account_pk,
            account_id=token.account_id,
            account_name=token.account_name,
            account_type=token.account_type,
            load_module_codes=_module_codes(token.pk),
        )
        return token


def _module_codes(token_pk: int) -> Callable[[], frozenset[str]]:
    def load() -> frozenset[str]:
        through = ApiToken.modules.through
        return frozenset(
            through.objects.filter(apitoken_id=token_pk).values_list("module__code", flat=True)
        )

    return load


def _touch(token_pk: int) -> None:
    """Write lastAccessAt at most once a minute per token, whatever the request rate: the
    condition is in the UPDATE itself, so concurrent requests on many processes produce at
    most one write per interval."""
    now = timezone.now()
    try:
        ApiToken.objects.filter(
            Q(last_access_at__isnull=True) | Q(last_access_at__lte=now - LAST_ACCESS_INTERVAL),
            pk=token_pk,
        ).update(last_access_at=now)
    except DatabaseError as exc:
        logger.warning("could not update lastAccessAt: %s", type(exc).__name__)
