"""Bearer authentication for everything under ``/public/`` (SPEC section 4.1, RFC 6750).

Per request: one indexed SELECT of the token (with its account) by the id inside the value,
through Django's cursor, then a constant-time compare of HMAC digests. No cache sits in front
of that SELECT, so a token disabled or deleted on any process stops working on the very next
request. Django owns the connection (``CONN_HEALTH_CHECKS``, error translation, query logging);
lastAccessAt is written after the response, on ``request_finished`` (docs/decisions.md, issue 14).
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from django.conf import settings
from django.core.signals import request_finished
from django.db import DatabaseError, connections, router
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import AccountStatus
from apitokens import blocking, exposure, lifetime, networks, usage
from apitokens import secrets as token_secrets
from apitokens.models import ApiToken, TokenStatus
from tokens_admin.api import Principal
from tokens_admin.problems import api_headers, problem, unavailable
from tokens_admin.ratelimit import FailureLimiter, Verdict
from tokens_admin.requests import ApiRequest, AppRequest, request_context

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
    # Past expires_at (decided by the database, as ``stale``); the expiry's record is written.
    expired: bool
    expiry_recorded: bool
    # During a rotation's grace period: the replaced value's digest, still accepted.
    previous_digest: str
    previous_valid: bool
    # The allowlist, as stored (apitokens.networks); empty: any address.
    allowed_ips: str


# The lookup is written out rather than built by the ORM per request: building and compiling
# this queryset costs 250-400 µs of CPU here, ten times the indexed SELECT (docs/performance.md).
# tests/apitokens/test_bearer.py checks it reads what the ORM reads.
LOOKUP_SQL = """
    SELECT token.id, token.public_id, token.name, token.digest, token.status,
           account.id, account.public_id, account.name, account.type, account.status,
           (token.last_access_at IS NULL OR token.last_access_at <= %s),
           (token.expires_at IS NOT NULL AND token.expires_at <= %s), token.expiry_recorded,
           token.previous_digest,
           (token.previous_valid_until IS NOT NULL AND token.previous_valid_until > %s),
           token.allowed_ips
    FROM apitokens_apitoken token
    JOIN accounts_account account ON account.id = token.account_id
    WHERE token.public_id = %s
"""


def lookup_token(token_id: str, now: datetime | None = None) -> Credential | None:
    """The token with this id and its account, or ``None``; ``stale`` is decided at ``now``."""
    connection = connections[router.db_for_read(ApiToken)]
    now = now or timezone.now()
    # (As the ORM passes a DateTimeField's value to this backend: SQLite stores text.)
    adapt = connection.ops.adapt_datetimefield_value
    params = [adapt(now - LAST_ACCESS_INTERVAL), adapt(now), adapt(now), token_id]
    with connection.cursor() as cursor:
        cursor.execute(LOOKUP_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for boolean in (-6, -5, -4, -2):  # (SQLite answers a comparison with 0 or 1)
        values[boolean] = bool(values[boolean])
    return Credential(*values)


def _challenge(error: str | None = None, description: str | None = None) -> str:
    if error is None:
        return REALM
    described = f', error_description="{description}"' if description else ""
    return f'{REALM}, error="{error}"{described}'


def _unauthorized(
    request: HttpRequest, detail: str, error: str | None, description: str | None = None
) -> HttpResponse:
    return problem(
        request,
        401,
        detail,
        kind="unauthorized" if error is None else error.replace("_", "-"),
        headers={"WWW-Authenticate": _challenge(error, description)},
    )


def _invalid_request(request: HttpRequest, detail: str) -> HttpResponse:
    return problem(
        request,
        400,
        detail,
        kind="invalid-request",
        headers={"WWW-Authenticate": _challenge("invalid_request")},
    )


class BearerAuthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: AppRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if not request.is_secure():
            return _plain_http(request)
        if request.path in PUBLIC_PATHS:
            return api_headers(self.get_response(request))
        try:
            outcome = _authenticate(request)
        except DatabaseError as exc:
            logger.error("database unavailable during authentication: %s", type(exc).__name__)
            return unavailable(request)
        if isinstance(outcome, HttpResponse):
            return outcome
        response = api_headers(self.get_response(request))
        ip, agent = request.client_ip, request.META.get("HTTP_USER_AGENT", "")[: usage.AGENT_MAX]
        served = response.status_code < 400
        usage.note_use(outcome.pk, ip, agent, served=served, request=request)
        if outcome.stale:
            # Written once the server has sent the response (it closes the response, which
            # sends request_finished), so the write adds nothing to this request's latency.
            _stale_token.set(_Used(outcome.pk, ip if served else "", agent))
        return response


def _plain_http(request: HttpRequest) -> HttpResponse:
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
                    exposure.record_exposure(token=token, request=request_context(request))
            except DatabaseError:
                logger.error("could not record a token exposure: database unavailable")
    return problem(
        request,
        403,
        "The API is only available over HTTPS.",
        kind="https-required",
    )


def _read_credentials(request: HttpRequest) -> token_secrets.ParsedValue | HttpResponse | None:
    """The well-formed value of the Authorization header; ``None`` for a b64token that is not
    one of ours (refused as an invalid token), a response for everything RFC 6750 refuses."""
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
    return parsed


def _authenticate(request: AppRequest) -> Credential | HttpResponse:
    parsed = _read_credentials(request)
    if isinstance(parsed, HttpResponse):
        return parsed
    ip = request.client_ip
    if not auth_failures.unsuspected(ip):
        verdict = auth_failures.check(ip)
        if not verdict.allowed:
            return _too_many(request, verdict)
    token = lookup_token(parsed.token_id) if parsed is not None else None
    # An unknown id is still compared, with a fixed dummy digest: it costs what a wrong
    # secret costs, so the answer's timing does not tell which token ids exist.
    if (
        parsed is None
        or not _matches(parsed.value, token)
        or token is None
        or token.status == TokenStatus.DELETED
    ):
        if token is not None:
            usage.note_refused(token.pk, ip)
        verdict = auth_failures.fail(ip)
        if verdict.over:
            # Past the limit after all (another worker counted first, or this one had not
            # yet seen the address fail): refused like any attempt over it.
            return _too_many(request, verdict)
        return _unauthorized(request, INVALID_TOKEN_DETAIL, "invalid_token")
    if token.expired or token.status == TokenStatus.DISABLED:
        usage.note_refused(token.pk, ip)
    if token.expired:
        if not token.expiry_recorded:
            lifetime.record_expiry(token.pk)
        return _unauthorized(
            request, "The API token expired.", "invalid_token", "The access token expired"
        )
    if token.status == TokenStatus.DISABLED:
        return _unauthorized(request, "The API token is disabled.", "invalid_token")
    if token.account_status != AccountStatus.ACTIVE:
        return _unauthorized(request, "The API token's account is disabled.", "invalid_token")
    if token.allowed_ips and not networks.allows(token.allowed_ips, ip):
        usage.note_refused(token.pk, ip)
        blocking.record_blocked_use(token.pk, ip, request=request_context(request))
        return problem(
            request, 403, f"This API token cannot be used from {ip}.", kind="ip-not-allowed"
        )
    _identify(cast(ApiRequest, request), token)
    return token


def _matches(value: str, token: Credential | None) -> bool:
    """The value is the token's current one, or the one its last rotation replaced while the
    grace period lasts. One HMAC either way; compared in constant time."""
    computed = token_secrets.digest(value, settings.TOKEN_PEPPER)
    if token is None:
        hmac.compare_digest(computed, NO_SUCH_DIGEST)
        return False
    if hmac.compare_digest(computed, token.digest):
        return True
    return token.previous_valid and hmac.compare_digest(computed, token.previous_digest)


def _identify(request: ApiRequest, token: Credential) -> None:
    """What the API views and the request log read of the caller."""
    request.api_token_id = token.public_id
    request.api_principal = Principal(
        token_pk=token.pk,
        token_id=token.public_id,
        token_name=token.name,
        account_pk=token.account_pk,
        account_id=token.account_id,
        account_name=token.account_name,
        account_type=token.account_type,
        load_module_codes=_module_codes(token.pk),
    )


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


# The token this request used, and whether its lastAccessAt was found stale, for the work
# done on request_finished. A context variable, not a thread-local: under ASGI several
# requests share the thread that runs sync code.
class _Used(NamedTuple):
    token_pk: int
    ip: str
    agent: str


_stale_token: ContextVar[_Used | None] = ContextVar("stale_token", default=None)


def _touch_after_response(**kwargs: Any) -> None:
    used = _stale_token.get()
    if used is not None:
        _stale_token.set(None)
        # The process that wins the minute's write flushes the usage buffer (shared with
        # Redis); without Redis every process also flushes its own, below.
        if _touch(used):
            usage.flush(used.token_pk)
    usage.flush_due()  # (after any response: a clock read until a minute is up)


request_finished.connect(_touch_after_response, dispatch_uid="apitokens.last_access")


def _touch(used: _Used) -> bool:
    """Write lastAccessAt (with the address and User-Agent of the request) at most once a
    minute per token, whatever the request rate: the condition is in the UPDATE itself, so
    concurrent requests on many processes produce at most one write per interval. True for
    the request that wrote it."""
    now = timezone.now()
    try:
        return bool(
            ApiToken.objects.filter(
                Q(last_access_at__isnull=True) | Q(last_access_at__lte=now - LAST_ACCESS_INTERVAL),
                pk=used.token_pk,
            ).update(
                last_access_at=now,
                # (the last served request's address and User-Agent: a refused one keeps them)
                **(
                    {"last_access_ip": used.ip, "last_access_user_agent": used.agent}
                    if used.ip
                    else {}
                ),
            )
        )
    except DatabaseError as exc:
        logger.warning("could not update lastAccessAt: %s", type(exc).__name__)
        return False
