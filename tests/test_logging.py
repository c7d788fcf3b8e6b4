"""Log lines: one JSON object per line with the trace id, and never a secret in one."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from apitokens.secrets import generate_value
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
