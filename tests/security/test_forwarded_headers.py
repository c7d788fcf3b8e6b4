"""Issue 13 item 5: a forged X-Forwarded-Proto against a real gunicorn.

gunicorn's own default trusts forwarded headers from 127.0.0.1, so any local process could make
a plain-HTTP API call look like HTTPS. Here gunicorn runs with the project's gunicorn.conf.py on
plain HTTP (as behind a TLS proxy) and is called from 127.0.0.1 with every header gunicorn
knows as a scheme header: without TRUSTED_PROXY they change nothing (403 https-required, and the
value seen in clear text is recorded as exposed); with TRUSTED_PROXY=127.0.0.1, X-Forwarded-Proto
is believed and the client address is the X-Forwarded-For entry the proxy appended."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from apitokens.models import ApiToken
from audit.models import AuditRecord
from tests.live import LiveServer, live_server
from tests.security.conftest import TOKENS_URL

FORGED = [
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Ssl": "on"},
    {"X-Forwarded-Protocol": "ssl"},
]


def call(server: LiveServer, token: ApiToken, headers: dict[str, str]) -> httpx.Response:
    value: str = token.plain_value  # type: ignore[attr-defined]
    # A connection of its own per request, as separate clients would.
    return httpx.get(
        server.url + TOKENS_URL, headers={"Authorization": f"Bearer {value}", **headers}
    )


def exposures(token: ApiToken) -> list[AuditRecord]:
    return list(
        AuditRecord.objects.filter(object_id=token.public_id, event_key__endswith=".exposed")
    )


def logged(server: LiveServer, trace: str) -> dict[str, Any]:
    """The request's log line (LOG_FORMAT=json), once its worker has written it."""
    deadline = time.monotonic() + 10
    while True:
        for line in server.log.read_text(errors="replace").splitlines():
            if line.startswith("{") and trace in line:
                found: dict[str, Any] = json.loads(line)
                return found
        if time.monotonic() > deadline:
            pytest.fail(f"no log line for {trace}")
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_forged_scheme_headers_from_localhost_are_plain_http_without_a_trusted_proxy(
    tmp_path: Path, robot: ApiToken
) -> None:
    with live_server(tmp_path, tls=False, TRUSTED_PROXY="") as server:
        responses = [call(server, robot, headers) for headers in FORGED]
        both = call(server, robot, {**FORGED[0], "X-Forwarded-For": "198.51.100.7"})
    print(f"forged scheme headers, no proxy: {[r.status_code for r in [*responses, both]]}")
    for response in [*responses, both]:
        assert response.status_code == 403, response.text
        assert response.json()["type"].endswith("/https-required")
    # Each value shown in clear text is recorded, from the real peer (never the forged one).
    records = exposures(robot)
    assert len(records) == 4
    assert {r.request_ip for r in records} == {"127.0.0.1"}


@pytest.mark.django_db(transaction=True)
def test_behind_a_trusted_proxy_the_forwarded_scheme_and_client_count(
    tmp_path: Path, robot: ApiToken
) -> None:
    forwarded = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}
    with live_server(tmp_path, tls=False, TRUSTED_PROXY="127.0.0.1", LOG_FORMAT="json") as server:
        served = call(server, robot, {"X-Forwarded-Proto": "https", **forwarded})
        line = logged(server, served.headers["traceparent"])
        # Only X-Forwarded-Proto, the header the proxy overwrites, says "HTTPS".
        others = [call(server, robot, headers) for headers in FORGED[1:]]
        plain = call(server, robot, {"X-Forwarded-Proto": "http", **forwarded})
    print(
        f"trusted proxy 127.0.0.1: {served.status_code} as {line['ip']};"
        f" others {[r.status_code for r in others]}; forwarded http {plain.status_code}"
    )
    assert served.status_code == 200, served.text
    assert line["ip"] == "198.51.100.7"
    assert [r.status_code for r in others] == [403, 403]
    assert plain.status_code == 403
    assert {r.request_ip for r in exposures(robot)} == {"127.0.0.1", "198.51.100.7"}
