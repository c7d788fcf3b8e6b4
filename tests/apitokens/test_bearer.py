"""Bearer authentication: one test per row of SPEC section 4.1, HTTPS enforcement, limits."""

from __future__ import annotations

import ipaddress
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import DatabaseError, connections, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apitokens import middleware
from apitokens import secrets as token_secrets
from apitokens.models import ApiToken, TokenStatus
from apitokens.secrets import generate_value
from audit.models import AuditRecord
from tests.factories import AccountFactory, TokenFactory

URL = "/public/v1/accounts/api-tokens"
REALM = 'Bearer realm="api"'


@pytest.fixture(autouse=True)
def _fresh_limits():
    cache.clear()
    middleware.auth_failures.forget()
    yield
    cache.clear()


@pytest.fixture
def robot(acme):
    return TokenFactory(account=acme, name="Robot", modules=["MOD-1756"])


def call(client: Client, authorization: str | None, path: str = URL, secure: bool = True, **extra):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    return client.get(path, secure=secure, **headers, **extra)


def assert_problem(response, status: int, challenge: str | None):
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["traceId"] == response["traceparent"]
    assert response["Cache-Control"] == "no-store"
    if challenge is None:
        assert "WWW-Authenticate" not in response
    else:
        assert response["WWW-Authenticate"] == challenge
    return body


def test_it_accepts_a_valid_token(client, robot):
    response = call(client, f"Bearer {robot.plain_value}")
    assert response.status_code == 200
    assert response["Vary"] == "Authorization"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Token abc", "Bearerabc"])
def test_row_missing_or_other_scheme_is_401_with_bare_challenge(client, db, header):
    body = assert_problem(call(client, header), 401, REALM)
    assert body["title"] == "Unauthorized"


@pytest.mark.parametrize(
    "header",
    [
        "bearer",
        "Bearer ",
        "Bearer    ",
        "Bearer a b",
        "Bearer tok\x01en",
        "Bearer tök",
        "Bearer a,b",
    ],
)
def test_row_malformed_bearer_is_400_invalid_request(client, db, header):
    body = assert_problem(call(client, header), 400, f'{REALM}, error="invalid_request"')
    assert body["title"] == "Bad Request"


def test_row_token_in_the_query_string_is_400_invalid_request(client, robot):
    response = client.get(f"{URL}?access_token={robot.plain_value}", secure=True)
    assert_problem(response, 400, f'{REALM}, error="invalid_request"')


def test_row_unknown_wrong_bad_checksum_and_deleted_share_one_body(client, acme, robot):
    deleted = TokenFactory(account=acme, deleted=True)
    wrong_secret = robot.plain_value[:-10] + ("A" * 10)
    unknown = TokenFactory(account=acme)
    unknown_value = unknown.plain_value.replace(unknown.public_id, "TKN-0000-0000")
    bad_checksum = robot.plain_value[:-1] + ("B" if robot.plain_value[-1] != "B" else "C")
    bodies = []
    for value in (wrong_secret, unknown_value, bad_checksum, deleted.plain_value, "garbage"):
        body = assert_problem(
            call(client, f"Bearer {value}"), 401, f'{REALM}, error="invalid_token"'
        )
        bodies.append({k: v for k, v in body.items() if k != "traceId"})
    assert all(b == bodies[0] for b in bodies)


def test_an_unknown_id_costs_the_same_digest_work_as_a_wrong_secret(client, robot):
    # Counted, not timed (timing flakes): if only a real id paid for the HMAC, the answer's
    # latency would tell an attacker which token ids exist.
    work = []
    for value in (generate_value(robot.public_id), generate_value("TKN-0000-0001")):
        with mock.patch.object(token_secrets, "digest", wraps=token_secrets.digest) as digest:
            assert_problem(call(client, f"Bearer {value}"), 401, f'{REALM}, error="invalid_token"')
        work.append(digest.call_count)
    assert work[0] >= 1
    assert work[0] == work[1]


def test_row_disabled_token_is_401_saying_disabled(client, acme):
    token = TokenFactory(account=acme, disabled=True)
    body = assert_problem(
        call(client, f"Bearer {token.plain_value}"), 401, f'{REALM}, error="invalid_token"'
    )
    assert "disabled" in body["detail"]


def test_row_disabled_account_is_401(client, db):
    account = AccountFactory()
    token = TokenFactory(account=account)
    account.status = "Disabled"
    account.save(update_fields=["status"])
    body = assert_problem(
        call(client, f"Bearer {token.plain_value}"), 401, f'{REALM}, error="invalid_token"'
    )
    assert "account" in body["detail"]


def test_row_module_not_held_is_403_insufficient_scope(client, acme):
    token = TokenFactory(account=acme, modules=["MOD-4525"])  # Billing only
    body = assert_problem(
        call(client, f"Bearer {token.plain_value}"), 403, f'{REALM}, error="insufficient_scope"'
    )
    assert body["title"] == "Forbidden"


def test_a_token_without_modules_can_still_read_itself(client, acme):
    token = TokenFactory(account=acme, modules=[])
    response = call(client, f"Bearer {token.plain_value}", path=f"{URL}/{token.public_id}")
    assert response.status_code == 200
    assert response.json()["token"] == token.plain_value


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
@pytest.mark.parametrize("forged", [False, True])
def test_plain_http_is_403_without_redirect_or_side_effect(client, robot, method, forged):
    extra = {"HTTP_X_FORWARDED_PROTO": "https"} if forged else {}
    before = AuditRecord.objects.count()
    response = getattr(client, method)(
        f"{URL}/{robot.public_id}",
        secure=False,
        HTTP_AUTHORIZATION="Bearer not-a-token",
        **extra,
    )
    body = assert_problem(response, 403, None)
    assert body["type"].endswith("/https-required")
    robot.refresh_from_db()
    assert robot.status == TokenStatus.ACTIVE
    assert robot.last_access_at is None
    assert AuditRecord.objects.count() == before


def test_a_valid_token_over_plain_http_is_recorded_as_exposed(client, robot):
    response = client.post(
        f"{URL}/{robot.public_id}/disable",
        secure=False,
        HTTP_AUTHORIZATION=f"Bearer {robot.plain_value}",
    )
    assert response.status_code == 403
    robot.refresh_from_db()
    assert robot.status == TokenStatus.ACTIVE
    exposed = AuditRecord.objects.filter(object_id=robot.public_id, event_key__endswith=".exposed")
    assert exposed.count() == 1
    assert robot.plain_value not in str(exposed.get().documents)


@override_settings(
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    TRUSTED_PROXY=(ipaddress.ip_network("127.0.0.1/32"),),  # the test client's peer address
)
def test_a_configured_proxy_header_counts_as_secure(client, robot):
    response = client.get(
        URL, HTTP_X_FORWARDED_PROTO="https", HTTP_AUTHORIZATION=f"Bearer {robot.plain_value}"
    )
    assert response.status_code == 200


def test_failed_attempts_are_rate_limited_per_address(client, robot, settings):
    limit = middleware.auth_failures.limit
    bad = "Bearer " + robot.plain_value[:-10] + "A" * 10
    for _ in range(limit):
        assert call(client, bad, REMOTE_ADDR="198.51.100.9").status_code == 401
    blocked = call(client, f"Bearer {robot.plain_value}", REMOTE_ADDR="198.51.100.9")
    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= middleware.auth_failures.window_seconds
    # Another address is unaffected.
    assert (
        call(client, f"Bearer {robot.plain_value}", REMOTE_ADDR="198.51.100.10").status_code == 200
    )


def test_last_access_is_written_at_most_once_a_minute(client, robot, django_assert_num_queries):
    call(client, f"Bearer {robot.plain_value}")
    robot.refresh_from_db()
    first = robot.last_access_at
    assert first is not None
    call(client, f"Bearer {robot.plain_value}")
    robot.refresh_from_db()
    assert robot.last_access_at == first
    ApiToken.objects.filter(pk=robot.pk).update(last_access_at=first.replace(year=first.year - 1))
    call(client, f"Bearer {robot.plain_value}")
    robot.refresh_from_db()
    assert robot.last_access_at > first


def test_authentication_is_one_query(client, robot, django_assert_num_queries):
    call(
        client, f"Bearer {robot.plain_value}", path=f"{URL}/{robot.public_id}"
    )  # warm lastAccessAt
    # 1 token+account, then the endpoint: 1 get; self-read needs no module query.
    with django_assert_num_queries(2):
        call(client, f"Bearer {robot.plain_value}", path=f"{URL}/{robot.public_id}")


def _expected_credential(token: ApiToken, *, stale: bool) -> middleware.Credential:
    account = token.account
    return middleware.Credential(
        pk=token.pk,
        public_id=token.public_id,
        name=token.name,
        digest=token.digest,
        status=token.status,
        account_pk=account.pk,
        account_id=account.public_id,
        account_name=account.name,
        account_type=account.type,
        account_status=account.status,
        stale=stale,
    )


LAST_ACCESS_CASES = [
    pytest.param(None, True, id="never"),
    pytest.param(timedelta(minutes=5), True, id="5-minutes-ago"),
    pytest.param(timedelta(seconds=61), True, id="61-seconds-ago"),
    pytest.param(timedelta(seconds=30), False, id="30-seconds-ago"),
    pytest.param(timedelta(seconds=-30), False, id="clock-skew-ahead"),
]


@pytest.mark.parametrize(("ago", "stale"), LAST_ACCESS_CASES)
def test_the_lookup_reads_the_row_on_the_drivers_cursor(robot, ago, stale):
    # Nothing watches the queries (as in production): the SELECT runs on the driver's cursor,
    # never through Django's, and reads what the ORM reads, staleness decided by the database.
    now = timezone.now()
    robot.last_access_at = None if ago is None else now - ago
    robot.save(update_fields=["last_access_at"])
    wrapper = connections["default"]
    wrapper.ensure_connection()
    with mock.patch.object(wrapper, "cursor", side_effect=AssertionError("Django's cursor")):
        found = middleware.lookup_token(robot.public_id, now=now)
    assert found == _expected_credential(robot, stale=stale)
    assert type(found.stale) is bool
    assert middleware.lookup_token("TKN-0000-0000", now=now) is None


@pytest.mark.parametrize(("ago", "stale"), LAST_ACCESS_CASES)
def test_the_lookup_goes_through_djangos_cursor_while_queries_are_watched(robot, ago, stale):
    now = timezone.now()
    robot.last_access_at = None if ago is None else now - ago
    robot.save(update_fields=["last_access_at"])
    wrapper = connections["default"]
    with CaptureQueriesContext(wrapper) as queries:
        found = middleware.lookup_token(robot.public_id, now=now)
    assert found == _expected_credential(robot, stale=stale)
    assert len(queries.captured_queries) == 1
    assert robot.public_id in queries.captured_queries[0]["sql"]


def test_the_lookup_goes_through_djangos_cursor_under_an_execute_wrapper(robot):
    seen = []

    def watch(execute, sql, params, many, context):
        seen.append(params)
        return execute(sql, params, many, context)

    with connections["default"].execute_wrapper(watch):
        assert middleware.lookup_token(robot.public_id).public_id == robot.public_id
    assert len(seen) == 1
    assert robot.public_id in seen[0]


def test_the_lookup_is_the_requests_health_check(robot):
    # CONN_HEALTH_CHECKS (PostgreSQL): Django would send SELECT 1 before the request's first
    # query; the lookup runs on the driver's cursor instead, and counts as the check.
    wrapper = connections["default"]
    wrapper.ensure_connection()
    with (
        mock.patch.multiple(wrapper, health_check_enabled=True, health_check_done=False),
        mock.patch.object(wrapper, "is_usable", side_effect=AssertionError("SELECT 1")),
    ):
        with mock.patch.object(wrapper, "cursor", side_effect=AssertionError("Django's cursor")):
            found = middleware.lookup_token(robot.public_id)
        assert found.public_id == robot.public_id
        assert wrapper.health_check_done is True


class _BrokenConnection:
    """A driver connection the server has dropped: every statement fails."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.closed = False

    def cursor(self, *args, **kwargs):
        raise self.error

    def close(self) -> None:
        self.closed = True


@contextmanager
def _dropped_connection(message: str):
    """The default connection's driver connection swapped for one whose statements fail with
    ``message``; the live one is put back unless the lookup replaced it."""
    wrapper = connections["default"]
    wrapper.ensure_connection()
    live = wrapper.connection
    broken = _BrokenConnection(wrapper.Database.OperationalError(message))
    wrapper.connection = broken
    try:
        yield wrapper, broken, live
    finally:
        if wrapper.connection is broken:
            wrapper.connection = live


@pytest.mark.django_db(transaction=True)
def test_a_broken_connection_found_by_the_lookup_is_replaced_and_the_lookup_runs_again():
    robot = TokenFactory(account=AccountFactory(), name="Robot")
    with (
        _dropped_connection("server closed the connection") as (wrapper, broken, live),
        mock.patch.multiple(wrapper, health_check_enabled=True, health_check_done=False),
        # (What Django's SELECT 1 finds on a dropped connection.)
        mock.patch.object(wrapper, "is_usable", return_value=False),
    ):
        found = middleware.lookup_token(robot.public_id)
        assert wrapper.health_check_done is True
    assert found.public_id == robot.public_id
    assert broken.closed  # closed as Django's failed check closes it
    assert wrapper.connection not in (None, broken, live)  # the retry opened a new one
    live.close()


@pytest.mark.parametrize(
    ("check_done", "usable"),
    [
        # A timeout or a missing table is not a dropped connection.
        pytest.param(False, {"return_value": True}, id="check-due-connection-usable"),
        pytest.param(True, {"side_effect": AssertionError("no check due")}, id="no-check-due"),
    ],
)
def test_a_failing_lookup_is_not_retried_unless_the_check_would_fail(robot, check_done, usable):
    # The error stands (a 503), the connection is kept, and the SELECT is not sent twice.
    with (
        _dropped_connection("canceling statement") as (wrapper, broken, _),
        mock.patch.multiple(wrapper, health_check_enabled=True, health_check_done=check_done),
        mock.patch.object(wrapper, "is_usable", **usable),
        mock.patch.object(wrapper, "cursor", side_effect=AssertionError("a retry")),
        pytest.raises(DatabaseError),
    ):
        middleware.lookup_token(robot.public_id)
    assert not broken.closed


class _Undo(Exception):
    pass


def test_a_database_error_on_the_drivers_cursor_is_a_503_and_marks_the_connection(client, robot):
    wrapper = connections["default"]
    wrapper.ensure_connection()
    table = ApiToken._meta.db_table

    outcome = {}
    try:
        with transaction.atomic():
            with wrapper.cursor() as cursor:  # the table goes away, inside a savepoint
                cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_gone"')
            wrapper.errors_occurred = False
            try:
                with mock.patch.object(
                    wrapper, "cursor", side_effect=AssertionError("Django's cursor")
                ):
                    middleware.lookup_token(robot.public_id)
            except DatabaseError as exc:
                outcome["error"] = exc
            # Django closes a connection after such an error if it is no longer usable.
            outcome["marked"] = wrapper.errors_occurred
            outcome["response"] = call(client, f"Bearer {robot.plain_value}")
            raise _Undo
    except _Undo:
        pass
    assert isinstance(outcome["error"], DatabaseError)
    assert outcome["marked"] is True
    assert outcome["response"].status_code == 503
    assert outcome["response"]["Retry-After"]
    assert call(client, f"Bearer {robot.plain_value}").status_code == 200


def test_a_session_never_authenticates_the_api(client, alice, robot):
    client.force_login(alice)
    assert call(client, None).status_code == 401


def test_a_disabled_token_is_refused_on_the_next_request(client, robot):
    assert call(client, f"Bearer {robot.plain_value}").status_code == 200
    ApiToken.objects.filter(pk=robot.pk).update(status=TokenStatus.DISABLED)
    assert call(client, f"Bearer {robot.plain_value}").status_code == 401


def every_api_request(token_id: str) -> list[tuple[str, str]]:
    """Every route under /public/v1/ with a concrete id, with every method."""
    from django.urls import URLPattern

    from tokens_admin.api_urls import urlpatterns

    ids = {
        "token_id": token_id,
        "module_id": "MOD-1756",
        "record_id": "AUD-0000-0000-0000-0000",
        "event_type_id": "AET-0000-0000",
        "rest": "anything/else",
    }
    paths = []
    for pattern in urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        if route.startswith("^"):
            paths.append("/public/v1/anything/else")
            continue
        for name, value in ids.items():
            route = route.replace(f"<str:{name}>", value)
        paths.append(f"/public/v1/{route}")
    return [
        (method, path) for path in paths for method in ("get", "post", "put", "patch", "delete")
    ]


@pytest.mark.parametrize("forged", [False, True])
def test_plain_http_on_every_api_url_and_method_is_403_and_changes_nothing(client, robot, forged):
    extra = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_SSL": "on"} if forged else {}
    snapshot = list(ApiToken.objects.values_list("public_id", "status", "name", "last_access_at"))
    other_records = AuditRecord.objects.exclude(event_key__endswith=".exposed").count()
    requests = every_api_request(robot.public_id)
    assert len(requests) >= 60
    for method, path in requests:
        body = (
            {}
            if method == "get"
            else {"data": '{"name": "changed"}', "content_type": "application/json"}
        )
        response = getattr(client, method)(
            path,
            **body,
            secure=False,
            HTTP_AUTHORIZATION=f"Bearer {robot.plain_value}",
            **extra,
        )
        assert response.status_code == 403, (method, path)
        assert response["Content-Type"] == "application/problem+json"
        assert "Location" not in response
        assert response.json()["type"].endswith("/https-required")
    assert (
        list(ApiToken.objects.values_list("public_id", "status", "name", "last_access_at"))
        == snapshot
    )
    assert AuditRecord.objects.exclude(event_key__endswith=".exposed").count() == other_records
    assert AuditRecord.objects.filter(event_key__endswith=".exposed").count() == len(requests)


@pytest.fixture
def _keep_the_test_connection():
    """Closing a response sends request_finished, which closes "old" database connections;
    Django's test client unhooks that, and so do the tests that close responses themselves."""
    from django.core.signals import request_finished
    from django.db import close_old_connections

    request_finished.disconnect(close_old_connections)
    yield
    request_finished.connect(close_old_connections)


def _through_the_middleware(value: str):
    """One API request through the Bearer middleware alone, the response not yet closed (as a
    WSGI server holds it while it writes the body to the client)."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    request = RequestFactory().get(URL, secure=True, HTTP_AUTHORIZATION=f"Bearer {value}")
    request.client_ip = "192.0.2.1"
    request.trace_id = "00-" + "1" * 32 + "-" + "2" * 16 + "-00"
    return middleware.BearerAuthMiddleware(lambda r: HttpResponse("ok"))(request)


@pytest.mark.usefixtures("_keep_the_test_connection")
def test_last_access_is_written_after_the_response_not_during_the_request(robot):
    response = _through_the_middleware(robot.plain_value)
    assert response.status_code == 200
    robot.refresh_from_db()
    assert robot.last_access_at is None  # nothing written while the request is served
    response.close()  # the server has sent the body
    robot.refresh_from_db()
    assert robot.last_access_at is not None


@pytest.mark.usefixtures("_keep_the_test_connection")
def test_requests_that_all_saw_a_stale_last_access_write_it_once(robot):
    # Three requests on three processes authenticate before any of them finishes: each saw
    # "never accessed" and each tries the conditional UPDATE; only the first one writes.
    responses = [_through_the_middleware(robot.plain_value) for _ in range(3)]
    responses[0].close()
    robot.refresh_from_db()
    first = robot.last_access_at
    assert first is not None
    for response in responses[1:]:
        response.close()
    robot.refresh_from_db()
    assert robot.last_access_at == first


def test_a_busy_token_costs_one_write_a_minute(client, robot):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        for _ in range(10):
            assert call(client, f"Bearer {robot.plain_value}").status_code == 200
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(writes) == 1
    assert "last_access_at" in writes[0]


def test_a_bearer_token_never_opens_an_admin_page(client, robot):
    response = client.get(
        "/settings/api-tokens/", secure=True, HTTP_AUTHORIZATION=f"Bearer {robot.plain_value}"
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/signin/")


def test_a_problems_trace_id_is_its_header_and_its_log_line(client, robot, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="tokens_admin.request")
    response = call(client, f"Bearer {robot.plain_value}", path=f"{URL}/TKN-0000-0000")
    body = assert_problem(response, 404, None)
    [line] = [r for r in caplog.records if r.name == "tokens_admin.request"]
    assert line.trace_id == body["traceId"] == response["traceparent"]
    assert line.principal == robot.public_id
    assert robot.plain_value not in caplog.text
