"""The platform's command line, ``mpt-cli`` 6, unmodified, against the real server over HTTPS.

mpt-cli pins ``mpt-api-client==5.4.*`` (the suite uses 7), so it lives in its own virtual
environment, ``.venv-cli`` (``make cli``, a prerequisite of ``make test``). ``accounts add``
makes one request, ``GET /public/v1/accounts/api-tokens/{own id}?select=``, and stores the
``token`` of the answer under ``$HOME/.swocli/accounts.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from apitokens import services
from audit.types import Actor
from tests.conftest import REQUIRE_SERVICES
from tests.factories import AccountFactory, TokenFactory
from tests.live import ROOT, LiveServer, https_server

pytestmark = pytest.mark.django_db(transaction=True)

CLI = ROOT / ".venv-cli" / "bin" / "mpt-cli"


@pytest.fixture(scope="module")
def cli() -> Path:
    if not CLI.is_file():
        reason = f"mpt-cli is not installed at {CLI.relative_to(ROOT)}: run `make cli`"
        if REQUIRE_SERVICES:
            pytest.fail(reason + " (REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return CLI


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory) -> LiveServer:
    with django_db_blocker.unblock(), https_server(Path(tmp_path_factory.mktemp("live"))) as live:
        yield live


@pytest.fixture
def run(cli, server, tmp_path):
    home = tmp_path / "home"
    home.mkdir()

    def invoke(*args: str) -> subprocess.CompletedProcess[str]:
        # A clean environment: no MPT_* variables of the developer's, HOME in a tmp dir (the
        # CLI writes ~/.swocli/accounts.json), the test certificate trusted, wide lines.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "SSL_CERT_FILE": str(server.cafile),
            "COLUMNS": "200",
            "TERM": "dumb",
            "LANG": "C.UTF-8",
        }
        return subprocess.run(
            [str(cli), *args],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    invoke.home = home  # type: ignore[attr-defined]
    return invoke


def accounts_file(run) -> Path:
    return run.home / ".swocli" / "accounts.json"


@pytest.mark.parametrize("suffix", ["", "/public/v1/"])
def test_accounts_add_stores_the_account_of_a_token(run, server, suffix):
    vendor = AccountFactory(name="Globex", vendor=True)
    # No modules at all: a token can always read itself, which is all the CLI needs.
    token = TokenFactory(account=vendor, name="CLI robot", modules=[])
    result = run("accounts", "add", token.plain_value, "--environment", server.url + suffix)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Account has been added" in output
    assert vendor.public_id in output
    assert "Traceback" not in output
    [stored] = json.loads(accounts_file(run).read_text())
    assert stored == {
        "id": vendor.public_id,
        "name": "Globex",
        "type": "Vendor",
        # What the server answered for the token's own record: the full, usable value.
        "token": token.plain_value,
        "token_id": token.public_id,
        "environment": server.url,
        "is_active": True,
    }


@pytest.mark.parametrize(
    ("state", "message"),
    [("disabled", "The API token is disabled."), ("deleted", "The API token is invalid.")],
)
def test_accounts_add_fails_cleanly_for_a_token_that_cannot_authenticate(
    run, server, state, message
):
    token = TokenFactory(account=AccountFactory(name="Acme"), modules=["MOD-1756"])
    change = services.disable_token if state == "disabled" else services.delete_token
    change(token=token.public_id, actor=Actor.system())
    result = run("accounts", "add", token.plain_value, "--environment", server.url)
    output = " ".join((result.stdout + result.stderr).split())  # rich wraps long lines
    assert result.returncode == 3, output
    assert "Traceback" not in output
    assert f"401 Unauthorized - {message}" in output
    assert not accounts_file(run).exists()
