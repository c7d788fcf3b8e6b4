"""Log lines: one JSON object per line with the trace id, and never a secret in one."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from apitokens import views
from apitokens.secrets import generate_value
from tests.factories import TokenFactory
from tests.ui.conftest import SecureClient, sign_in
from tokens_admin.logging import REDACTED, JsonFormatter, RedactSecretsFilter

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def emitted() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger wired like the console handler in settings: redact filter, JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.logging.emitted")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_it_redacts_a_token_value_passed_as_an_argument(emitted):
    logger, stream = emitted
    value = generate_value("TKN-1234-5678")

    logger.warning("client sent %s in a query string", value)

    assert value[-64:] not in stream.getvalue()
    [line] = lines(stream)
    assert line["message"] == f"client sent idt:TKN-1234-5678:{REDACTED} in a query string"


def test_it_redacts_a_bearer_credential_in_any_case(emitted):
    logger, stream = emitted

    logger.info("Authorization: Bearer xyz")
    logger.info("header was bearer   abc.def-123")

    assert [line["message"] for line in lines(stream)] == [
        f"Authorization: Bearer {REDACTED}",
        f"header was bearer   {REDACTED}",
    ]


def test_it_redacts_stored_digests_and_ciphertexts(emitted):
    logger, stream = emitted
    digest = "ab" * 32
    ciphertext = "k1:" + "A1b2+/" * 20 + "=="

    logger.debug("params (%r, %r)", digest, ciphertext)

    assert lines(stream)[0]["message"] == f"params ('{REDACTED}', '{REDACTED}')"


def test_it_leaves_ordinary_messages_alone(emitted):
    logger, stream = emitted

    logger.info("token %s disabled by %s", "TKN-1234-5678", "USR-0001-0002")

    assert lines(stream)[0]["message"] == "token TKN-1234-5678 disabled by USR-0001-0002"


def test_it_keeps_a_record_with_a_broken_format_string():
    record = logging.makeLogRecord({"msg": "value %s %s", "args": ("only one",)})

    assert RedactSecretsFilter().filter(record) is True
    assert record.getMessage() == "value %s %s"


def test_it_writes_one_json_object_per_line_with_the_trace_id(emitted):
    logger, stream = emitted
    value = generate_value("TKN-1234-5678")

    logger.info("first", extra={"trace_id": TRACEPARENT, "status": 200})
    try:
        raise ValueError(f"bad value\n{value}")
    except ValueError:
        logger.exception("second\nspans lines", extra={"trace_id": TRACEPARENT})

    raw_lines = stream.getvalue().splitlines()
    assert len(raw_lines) == 2
    first, second = (json.loads(line) for line in raw_lines)
    assert first["trace_id"] == TRACEPARENT
    assert first["status"] == 200
    assert (first["level"], first["logger"], first["message"]) == (
        "INFO",
        "tests.logging.emitted",
        "first",
    )
    assert second["message"] == "second\nspans lines"
    assert "ValueError: bad value" in second["exc"]
    assert value[-64:] not in stream.getvalue()


def test_it_logs_one_line_per_request_with_the_trace_id(client, caplog):
    caplog.set_level(logging.INFO, logger="tokens_admin.request")

    response = client.get("/healthz", headers={"traceparent": TRACEPARENT})

    [record] = [r for r in caplog.records if r.name == "tokens_admin.request"]
    line = json.loads(JsonFormatter().format(record))
    # The incoming trace continues: same trace id, a new span of ours.
    assert line["trace_id"] == response["traceparent"]
    assert line["trace_id"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert line["status"] == 200
    assert line["message"].startswith("GET /healthz 200 ")
    assert line["principal"] is None
    assert isinstance(line["duration_ms"], float)


def test_it_redacts_what_reaches_the_configured_console_handler():
    value = generate_value("TKN-1234-5678")
    [console] = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    assert isinstance(console, logging.StreamHandler)
    stream = io.StringIO()
    original = console.setStream(stream)
    try:
        logging.getLogger("tokens_admin.anything").warning("leaked %s", value)
    finally:
        console.setStream(original)

    assert f"leaked idt:TKN-1234-5678:{REDACTED}" in stream.getvalue()
    assert value[-64:] not in stream.getvalue()


def request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "django.request" or r.name.startswith("tokens_admin")
    ]


@pytest.mark.parametrize(
    ("persona", "path"),
    [
        ("bob", "/settings/api-tokens/"),
        ("bob", "/settings/audit-trail/"),
        ("alice", "/account/pick/"),
    ],
)
def test_an_expected_403_page_logs_one_warning_line_without_a_traceback(
    request, caplog, persona, path
):
    browser = sign_in(SecureClient(), request.getfixturevalue(persona))
    caplog.set_level(logging.INFO)
    assert browser.get(path).status_code == 403
    [refusal] = [r for r in request_records(caplog) if r.name == "django.request"]
    assert (refusal.levelname, refusal.getMessage()) == (
        "WARNING",
        f"Forbidden (Permission denied): {path}",
    )
    assert [r.name for r in request_records(caplog)] == ["django.request", "tokens_admin.request"]
    assert [r for r in caplog.records if r.exc_info or r.exc_text] == []


def test_an_api_403_for_a_missing_module_logs_no_traceback(client, acme, caplog):
    token = TokenFactory(account=acme)
    caplog.set_level(logging.INFO)
    response = client.get(
        "/public/v1/accounts/api-tokens",
        secure=True,
        HTTP_AUTHORIZATION=f"Bearer {token.plain_value}",
    )
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    [refusal] = [r for r in request_records(caplog) if r.name == "django.request"]
    assert (refusal.levelname, refusal.getMessage()) == (
        "WARNING",
        "Forbidden: /public/v1/accounts/api-tokens",
    )
    assert [r for r in caplog.records if r.exc_info or r.exc_text] == []


def test_an_unexpected_error_still_logs_its_traceback(alice, caplog, monkeypatch):
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(views, "_list_context", broken)
    browser = sign_in(SecureClient(raise_request_exception=False), alice)
    caplog.set_level(logging.INFO)
    assert browser.get("/settings/api-tokens/").status_code == 500
    [error] = [r for r in request_records(caplog) if r.name == "django.request"]
    assert error.levelname == "ERROR"
    assert error.exc_info is not None
    assert isinstance(error.exc_info[1], RuntimeError)


def test_a_page_logs_the_signed_in_user_it_loaded(alice, caplog):
    browser = sign_in(SecureClient(), alice)
    caplog.set_level(logging.INFO, logger="tokens_admin.request")

    assert browser.get("/settings/api-tokens/").status_code == 200

    [line] = [r for r in caplog.records if r.name == "tokens_admin.request"]
    assert line.principal == alice.public_id


def test_a_request_that_never_loads_its_user_logs_no_principal(alice, caplog):
    browser = sign_in(SecureClient(), alice)
    caplog.set_level(logging.INFO, logger="tokens_admin.request")

    assert browser.get("/healthz").status_code == 200

    [line] = [r for r in caplog.records if r.name == "tokens_admin.request"]
    assert line.principal is None
