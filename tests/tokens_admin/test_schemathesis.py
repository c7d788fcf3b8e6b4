"""Schemathesis, with its default phases and checks, against openapi.json on the live server.

The run is Schemathesis's own command line (``st run``), as an integrator would point it at a
tokens-admin server: every phase (examples, coverage, fuzzing, stateful) and every check. It is
bounded by ``--max-examples`` and a seed; its configuration, crash cache and any report stay in
the test's tmp dir.

Two runs, because no one token is a fair client of every endpoint: a Vendor token with Access
Management drives the tokens and audit endpoints (its deleted tokens vanish, as Schemathesis's
use-after-free check expects; an Operations token would rightly still see them), and an
Operations token drives the module catalogue, which only Operations accounts may read.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.factories import AccountFactory, TokenFactory
from tests.live import LiveServer, https_server

pytestmark = pytest.mark.django_db(transaction=True)

ST = Path(sys.executable).with_name("st")
# Bounded for CI (about half a minute on two cores); explore harder locally with, e.g.,
# SCHEMATHESIS_MAX_EXAMPLES=200 SCHEMATHESIS_SEED=7 (and SCHEMATHESIS_REPORT=<file>).
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261122"))
# SPEC 2: enabling an Active token or disabling a Disabled one is a 400 "Bad Request" naming the
# current status. The body of these two operations is an empty object or nothing, so that is
# the only 400 a schema-valid request can get; Schemathesis is told so, for them alone.
# Issue 13: a module id in the catalogue's shape (MOD-NNNN) that names no module is a 400
# field error of "modules"; no schema can list which ids exist, so the token create and update
# are told the same.
TRANSITION_CONFIG = """
[[operations]]
include-path-regex = "/(enable|disable)$"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx",
]

[[operations]]
include-path-regex = "/api-tokens(/[^/]+)?$"
include-method-regex = "^(POST|PUT)$"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx",
]
"""


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory) -> LiveServer:
    # Schemathesis's ignored_auth check sends requests with wrong credentials on purpose: a
    # generous failure limit keeps the per-address rate limit from answering 429 to the rest,
    # and counting in the server process (no REDIS_URL) keeps those failures out of the Redis
    # every other test of the run shares (they would block 127.0.0.1 there for a minute).
    with (
        django_db_blocker.unblock(),
        https_server(
            Path(tmp_path_factory.mktemp("live")),
            API_AUTH_FAILURE_LIMIT="1000000",
            REDIS_URL="",
        ) as live,
    ):
        yield live


def schemathesis(server: LiveServer, tmp: Path, value: str, *options: str) -> str:
    config = tmp / "schemathesis.toml"
    # The token comes from the environment, not argv; nothing is cached between runs.
    config.write_text(
        'headers = { Authorization = "Bearer ${TOKENS_ADMIN_ST_TOKEN}" }\n'
        "[cache]\nenabled = false\n"
        '[generation]\ndatabase = "none"\n' + TRANSITION_CONFIG
    )
    result = subprocess.run(
        [
            str(ST),
            "--config-file",
            str(config),
            "run",
            f"{server.url}/public/v1/openapi.json",
            "--tls-verify",
            str(server.cafile),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "2",
            "--request-timeout",
            "30",
            "--no-color",
            *options,
        ],
        cwd=tmp,
        env={**os.environ, "TOKENS_ADMIN_ST_TOKEN": value, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    # A token reads its own full value (SPEC 3), so the report may hold it: keep it out.
    report = (result.stdout + result.stderr).replace(value, "<the test token>")
    if os.environ.get("SCHEMATHESIS_REPORT"):
        with Path(os.environ["SCHEMATHESIS_REPORT"]).open("a") as saved:
            saved.write(report)
    assert result.returncode == 0, report[-20000:]
    assert "=== FAILURES ===" not in report, report[-20000:]
    assert not (tmp / ".schemathesis").exists()  # the crash cache is off
    return report


def test_a_long_query_reaches_the_api_and_gets_a_problem(server):
    # Found by Schemathesis: gunicorn's default request line limit (4094 bytes) answered a
    # 4.4 kB query with its own HTML 414 page. The servers allow 8190 bytes, so every query the
    # API refuses as too long (over 4096 characters) reaches it and gets a problem.
    token = TokenFactory(account=AccountFactory(name="Acme"), modules=["MOD-1756"])
    query = "ilike(name," + "x" * 5000 + ")"
    request = urllib.request.Request(  # noqa: S310 - an https URL of the test server
        f"{server.url}/public/v1/accounts/api-tokens?{query}",
        headers={"Authorization": f"Bearer {token.plain_value}"},
    )
    context = ssl.create_default_context(cafile=str(server.cafile))
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, context=context, timeout=10)  # noqa: S310
    assert caught.value.code == 400
    assert caught.value.headers["Content-Type"] == "application/problem+json"
    assert "longer than 4096" in json.loads(caught.value.read())["detail"]


def test_tokens_and_audit_endpoints_agree_with_openapi_json(server, tmp_path):
    vendor = AccountFactory(name="Globex", vendor=True)
    token = TokenFactory(account=vendor, name="Schemathesis", modules=["MOD-1756"])
    for index in range(3):
        TokenFactory(account=vendor, name=f"Globex robot {index}", modules=["MOD-1756"])
    TokenFactory(account=vendor, name="Globex sleeper", disabled=True)
    report = schemathesis(
        server, tmp_path, token.plain_value, "--exclude-path-regex", "^/public/v1/accounts/modules"
    )
    assert "16 selected / 18 total" in report


def test_the_module_catalogue_agrees_with_openapi_json(server, tmp_path):
    ops = AccountFactory(name="Operations", operations=True)
    token = TokenFactory(account=ops, name="Schemathesis ops", modules=["MOD-6271"])
    report = schemathesis(
        server, tmp_path, token.plain_value, "--include-path-regex", "^/public/v1/accounts/modules"
    )
    assert "2 selected / 18 total" in report
