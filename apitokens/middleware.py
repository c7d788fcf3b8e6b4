"""Bearer authentication for everything under ``/public/`` (SPEC section 4.1, RFC 6750).

Per request: one indexed SELECT of the token (with its account) by the id inside the value,
then a constant-time compare of HMAC digests. No cache sits in front of that SELECT, so a
token disabled or deleted on any process stops working on the very next request. The SELECT
is compiled by the ORM once and then run straight on the driver's cursor (``TokenLookup``):
building a queryset costs ten times what the query itself does, and Django's cursor wrappers
twice (see docs/performance.md and docs/decisions.md).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import DatabaseError, connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import AccountStatus
from apitokens import secrets as token_secrets
from apitokens import services
from apitokens.models import ApiToken, TokenStatus
from tokens_admin.api import Principal, request_context
from tokens_admin.problems import api_headers, problem
from tokens_admin.ratelimit import FailureLimiter, Verdict

logger = logging.getLogger(__name__)

API_PREFIX = "/public/"
PUBLIC_PATHS = frozenset({"/public/v1/openapi.json"})
REALM = 'Bearer realm="api"'
# RFC 6750 b64token, plus ":" which the platform's own value format contains.
_CREDENTIALS_RE = re.compile(r"[A-Za-z0-9\-._~+/:]+=*")
LAST_ACCESS_INTERVAL = timedelta(minutes=1)
INVALID_TOKEN_DETAIL = "The API token is invalid."  # noqa: S105 - a message
# What a value with an unknown id is compared with: shaped like a digest, so the compare does
# the same work (the id is refused whatever the compare says).
NO_SUCH_DIGEST = "0" * 64

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
    account_pk: int
    account_id: str
    account_name: str
    account_type: str
    account_status: str
    # lastAccessAt is older than LAST_ACCESS_INTERVAL (or never written): the database
    # compares, so no datetime is read back and converted on every request.
    stale: bool


class _Compiled(NamedTuple):
    sql: str  # in Django's ``%s`` style, for its cursor
    native_sql: str  # in the driver's own parameter style, for the driver's cursor
    token_param: int  # where the token id and the staleness threshold go in the parameters
    since_param: int
    converters: dict[int, tuple[list[Any], Any]]


class TokenLookup:
    """``SELECT <Credential's columns>, (last_access_at IS NULL OR last_access_at <= %s)
    FROM token JOIN account WHERE token.public_id = %s``.

    The ORM builds and compiles the query once per database alias (so it follows the models
    and the backend); each call then only runs it and applies the backend's value converters
    (SQLite's datetimes). Building a queryset per request cost several hundred microseconds
    of CPU, ten times the indexed SELECT itself.

    The SELECT runs on the driver's own cursor, inside Django's error translation (so a lost
    database is a ``DatabaseError`` here too, and marks the connection for closing): Django's
    cursor wrappers cost twice the query on every request. Whenever someone is watching the
    queries — ``DEBUG``, ``assertNumQueries``, ``connection.execute_wrapper`` — or the
    connection is not plainly usable (not yet open, a broken transaction), the same SQL goes
    through Django's cursor instead, which handles all of it.

    With ``CONN_HEALTH_CHECKS`` (PostgreSQL), Django checks a reused connection with a
    ``SELECT 1`` before a request's first query; the lookup is that check instead. If it
    fails and the connection is no longer usable, it is closed, as the check would have closed
    it, and the SELECT runs again on a new one; if it succeeds, the check is done for the rest
    of the request.
    """

    FIELDS = (
        "pk",
        "public_id",
        "name",
        "digest",
        "status",
        "account_id",
        "account__public_id",
        "account__name",
        "account__type",
        "account__status",
        "stale",
    )
    _PLACEHOLDER = "TKN-0000-0000"
    _SINCE_PLACEHOLDER = datetime(2000, 1, 1, tzinfo=UTC)

    def __init__(self) -> None:
        self._compiled: dict[str, _Compiled] = {}
        self._thresholds: tuple[tuple[str, int], Any] | None = None

    def _compile(self, alias: str) -> _Compiled:
        query = (
            ApiToken.objects.using(alias)
            .annotate(
                stale=ExpressionWrapper(
                    Q(last_access_at__isnull=True) | Q(last_access_at__lte=self._SINCE_PLACEHOLDER),
                    output_field=BooleanField(),
                )
            )
            .filter(public_id=self._PLACEHOLDER)
            .values_list(*self.FIELDS)[:1]
            .query
        )
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        since = self._since(self._SINCE_PLACEHOLDER, connections[alias])
        if sorted(map(str, params)) != sorted(map(str, (self._PLACEHOLDER, since))):
            raise RuntimeError(  # pragma: no cover - a changed query shape
                f"unexpected parameters in the token lookup: {params!r}"
            )
        token_param = list(params).index(self._PLACEHOLDER)
        converters = compiler.get_converters([column for column, _, _ in compiler.select])
        native_sql = sql
        if connections[alias].vendor == "sqlite":
            # What Django's SQLite cursor does to every statement, done once.
            # (Imported here: the sqlite3 module need not exist where SQLite is not used.)
            from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX

            native_sql = FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%")
        return _Compiled(sql, native_sql, token_param, 1 - token_param, converters)

    @staticmethod
    def _since(moment: datetime, connection: BaseDatabaseWrapper) -> Any:
        """``moment`` as the ORM passes a DateTimeField's value to this backend's driver."""
        return connection.ops.adapt_datetimefield_value(moment)

    def _threshold(self, connection: BaseDatabaseWrapper, now: datetime | None) -> Any:
        """LAST_ACCESS_INTERVAL before now, adapted for the driver; computed once a second
        (a second's lag only delays a write that happens at most once a minute anyway)."""
        if now is not None:
            return self._since(now - LAST_ACCESS_INTERVAL, connection)
        second = int(time.time())
        key = (connection.alias, second)  # (per alias: each may have its own TIME_ZONE)
        cached = self._thresholds
        if cached is None or cached[0] != key:
            now = datetime.fromtimestamp(second, UTC)
            cached = self._thresholds = (key, self._since(now - LAST_ACCESS_INTERVAL, connection))
        return cached[1]

    @staticmethod
    def _on_driver_cursor(
        connection: BaseDatabaseWrapper, compiled: _Compiled, params: list[Any]
    ) -> Any:
        connection.validate_thread_sharing()
        with connection.wrap_database_errors:
            cursor = (
                connection.connection.cursor()
                if connection.vendor == "sqlite"
                else connection.create_cursor()
            )
            try:
                cursor.execute(compiled.native_sql, params)
                return cursor.fetchone()
            finally:
                cursor.close()

    @staticmethod
    def _on_django_cursor(
        connection: BaseDatabaseWrapper, compiled: _Compiled, params: list[Any]
    ) -> Any:
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            return cursor.fetchone()

    def __call__(self, token_id: str, now: datetime | None = None) -> Credential | None:
        alias = router.db_for_read(ApiToken)
        compiled = self._compiled.get(alias)
        if compiled is None:
            compiled = self._compiled[alias] = self._compile(alias)
        connection = connections[alias]
        params: list[Any] = [None, None]
        params[compiled.token_param] = token_id
        params[compiled.since_param] = self._threshold(connection, now)
        if _plainly_usable(connection):
            # A health check due (CONN_HEALTH_CHECKS, before a request's first query): the
            # lookup is that check. Django would send a SELECT 1 first on every request.
            checking = connection.health_check_enabled and not connection.health_check_done  # type: ignore[attr-defined]
            try:
                row = self._on_driver_cursor(connection, compiled, params)
            except DatabaseError:
                # Retried only when the check Django skipped would have failed: a broken
                # connection is closed, as the check closes it, and Django's cursor opens a
                # new one. Any other error (a timeout, a missing table) is not retried.
                if not checking or connection.is_usable():
                    raise
                connection.close()
                row = self._on_django_cursor(connection, compiled, params)
            if checking:
                connection.health_check_done = True  # type: ignore[attr-defined]
        else:
            row = self._on_django_cursor(connection, compiled, params)
        if row is None:
            return None
        if compiled.converters:
            values = list(row)
            for position, (functions, expression) in compiled.converters.items():
                for convert in functions:
                    values[position] = convert(values[position], expression, connection)
            row = values
        return Credential._make(row)


def _plainly_usable(connection: BaseDatabaseWrapper) -> bool:
    """May a statement skip Django's cursor on ``connection``? Only when nothing watches the
    queries and the connection needs nothing Django's cursor would do first (open it, refuse
    a broken transaction; a due health check the lookup runs itself)."""
    return (
        connection.connection is not None
        and not connection.execute_wrappers
        and not connection.queries_logged
        and not connection.needs_rollback
    )


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
        if token.stale:
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
        # A well-formed value is one b64token; only something else needs the syntax check.
        parsed = token_secrets.parse_value(credentials)
        if parsed is None:
            if not credentials:
                return _invalid_request(request, "The Bearer credentials are empty.")
            if not _CREDENTIALS_RE.fullmatch(credentials):
                return _invalid_request(
                    request, "The Authorization header must hold exactly one Bearer token."
                )
        if not auth_failures.unsuspected(ip):
            verdict = auth_failures.check(ip)
            if not verdict.allowed:
                return _too_many(request, verdict)
        token = lookup_token(parsed.token_id) if parsed is not None else None
        # An unknown id is still compared, with a fixed dummy digest: it costs what a wrong
        # secret costs, so the answer's timing does not tell which token ids exist.
        if (
            parsed is None
            or not token_secrets.verify(
                parsed.value,
                token.digest if token is not None else NO_SUCH_DIGEST,
                settings.TOKEN_PEPPER,
            )
            or token is None
            or token.status == TokenStatus.DELETED
        ):
            verdict = auth_failures.fail(ip)
            if verdict.over:
                # Past the limit after all (another worker counted first, or this one had not
                # yet seen the address fail): refused like any attempt over it.
                return _too_many(request, verdict)
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


def _too_many(request: HttpRequest, verdict: Verdict) -> HttpResponse:
    return problem(
        request,
        429,
        "Too many failed authentication attempts. Try again later.",
        headers={"Retry-After": str(verdict.retry_after)},
    )


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
