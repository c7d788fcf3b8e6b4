"""Bearer authentication: one test per row of SPEC section 4.1, HTTPS enforcement, limits."""

from __future__ import annotations

import contextvars
import ipaddress
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import close_old_connections, connections, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apitokens import middleware
from apitokens import secrets as token_secrets
from apitokens.models import ApiToken, TokenStatus
from apitokens.secrets import generate_value
from audit.models import AuditRecord
from tests.conftest import require_postgres
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


def _expected_credential(
    token: ApiToken, *, stale: bool, expired: bool = False
) -> middleware.Credential:
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
        expired=expired,
        expiry_recorded=token.expiry_recorded,
        previous_digest=token.previous_digest,
        previous_valid=False,
        allowed_ips=token.allowed_ips,
    )


LAST_ACCESS_CASES = [
    pytest.param(None, True, id="never"),
    pytest.param(timedelta(minutes=5), True, id="5-minutes-ago"),
    pytest.param(timedelta(seconds=61), True, id="61-seconds-ago"),
    pytest.param(timedelta(seconds=30), False, id="30-seconds-ago"),
    pytest.param(timedelta(seconds=-30), False, id="clock-skew-ahead"),
]


@pytest.mark.parametrize(("ago", "stale"), LAST_ACCESS_CASES)
def test_the_lookup_reads_what_the_orm_reads(robot, ago, stale):
    # The SQL is written out (building the queryset per request costs ten times the query):
    # it must read what the ORM reads, staleness decided by the database.
    now = timezone.now()
    robot.last_access_at = None if ago is None else now - ago
    robot.save(update_fields=["last_access_at"])
    found = middleware.lookup_token(robot.public_id, now=now)
    assert found == _expected_credential(robot, stale=stale)
    assert type(found.stale) is bool
    assert middleware.lookup_token("TKN-0000-0000", now=now) is None


EXPIRY_CASES = [
    pytest.param(None, False, id="never"),
    pytest.param(timedelta(seconds=-1), False, id="in-a-second"),
    pytest.param(timedelta(0), True, id="this-very-moment"),
    pytest.param(timedelta(days=1), True, id="a-day-ago"),
]


@pytest.mark.parametrize(("ago", "expired"), EXPIRY_CASES)
def test_the_lookup_decides_expiry_at_its_moment(robot, ago, expired):
    now = timezone.now()
    robot.expires_at = None if ago is None else now - ago
    robot.last_access_at = now
    robot.save(update_fields=["expires_at", "last_access_at"])
    found = middleware.lookup_token(robot.public_id, now=now)
    assert found == _expected_credential(robot, stale=False, expired=expired)
    assert type(found.expired) is bool
    assert type(found.expiry_recorded) is bool


def test_the_lookup_is_one_query_on_djangos_cursor(robot):
    # Django's cursor, so query logging, assertNumQueries and execute wrappers all see it.
    seen = []

    def watch(execute, sql, params, many, context):
        seen.append(params)
        return execute(sql, params, many, context)

    with (
        CaptureQueriesContext(connections["default"]) as queries,
        connections["default"].execute_wrapper(watch),
    ):
        assert middleware.lookup_token(robot.public_id).public_id == robot.public_id
    assert len(queries.captured_queries) == 1
    assert robot.public_id in queries.captured_queries[0]["sql"]
    assert len(seen) == 1
    assert robot.public_id in seen[0]


def _end_session(pid: int) -> None:
    """What a database restart (or an idle-session timeout) does to one connection."""
    import psycopg

    database = connections["default"].settings_dict
    with psycopg.connect(
        dbname=database["NAME"],
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        user=database["USER"] or None,
        password=database["PASSWORD"] or None,
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        for _ in range(100):
            if not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                return
            time.sleep(0.01)


@pytest.mark.django_db(transaction=True)
def test_a_request_after_the_database_dropped_the_connection_is_served_on_a_new_one(client):
    # Django's CONN_HEALTH_CHECKS: a reused connection is checked before a request's first
    # query and replaced when the server has ended it, so no client sees that as a 503.
    require_postgres()
    robot = TokenFactory(account=AccountFactory(), name="Robot")
    wrapper = connections["default"]
    assert wrapper.settings_dict["CONN_HEALTH_CHECKS"] is True
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    _end_session(pid)
    close_old_connections()  # what request_started does (the test client skips it)
    response = call(client, f"Bearer {robot.plain_value}", path=f"{URL}/{robot.public_id}")
    assert response.status_code == 200
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone() != (pid,)


class _Undo(Exception):
    pass


def test_a_database_error_during_the_lookup_is_a_503(client, robot):
    table = ApiToken._meta.db_table
    outcome = {}
    try:
        with transaction.atomic():
            with connections["default"].cursor() as cursor:  # the table goes away, in a savepoint
                cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_gone"')
            outcome["response"] = call(client, f"Bearer {robot.plain_value}")
            raise _Undo
    except _Undo:
        pass
    assert_problem(outcome["response"], 503, None)
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
    # Three requests on three processes (three contexts) authenticate before any of them
    # finishes: each saw "never accessed" and each tries the conditional UPDATE once its
    # response is closed; only the first one writes.
    contexts = [contextvars.copy_context() for _ in range(3)]
    responses = [context.run(_through_the_middleware, robot.plain_value) for context in contexts]
    with CaptureQueriesContext(connections["default"]) as queries:
        contexts[0].run(responses[0].close)
    robot.refresh_from_db()
    first = robot.last_access_at
    assert first is not None
    for context, response in zip(contexts[1:], responses[1:], strict=True):
        with CaptureQueriesContext(connections["default"]) as later:
            context.run(response.close)
        assert [q["sql"][:6] for q in later.captured_queries] == ["UPDATE"]  # tried, no row
    robot.refresh_from_db()
    assert robot.last_access_at == first
    # The winner wrote lastAccessAt, then flushed the usage buffer (issue 17); nobody else.
    written = [q["sql"] for q in queries.captured_queries]
    assert written[0].startswith("UPDATE")
    assert "last_access_at" in written[0]
    assert any("apitokens_tokendailyusage" in sql for sql in written[1:])


def test_a_busy_token_costs_one_write_a_minute(client, robot):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        for _ in range(10):
            assert call(client, f"Bearer {robot.plain_value}").status_code == 200
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    # lastAccessAt once, then one flush of the usage buffer (issue 17): its day's row, the
    # address's last sighting. Nine more requests wrote nothing.
    touched = [sql for sql in writes if "apitokens_apitoken" in sql.split(" SET ")[0]]
    assert len(touched) == 1
    assert "last_access_at" in touched[0]
    day_rows = [sql for sql in writes if "apitokens_tokendailyusage" in sql]
    assert len(day_rows) == 1


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
