"""60 seconds of authenticated API load (wrk on loopback) while administrators change the same
tokens through the API and the pages: zero 5xx, zero requests accepted for a token after its
disable committed, and a verified audit chain. ``LOAD_SECONDS`` shortens the run for a quick
local try; ``LOAD_RESULTS=<file>`` keeps the figures (docs/security.md quotes them)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from audit.chain import verify_chain
from tests.conftest import REQUIRE_SERVICES
from tests.factories import AccountFactory, MembershipFactory, TokenFactory, UserFactory
from tests.live import https_server
from tests.security.load import run_load

SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
PASSWORD = "a long enough passphrase"


@pytest.mark.django_db(transaction=True)
def test_load_with_administrators_changing_the_same_tokens(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        message = "needs wrk (apt-get install wrk)"
        if REQUIRE_SERVICES:
            pytest.fail(message + " (REQUIRE_SERVICES=1)")
        pytest.skip(message)
    account = AccountFactory(name="Under load")
    admin = UserFactory(email="admin@load.test", name="Admin", password=PASSWORD)
    MembershipFactory(user=admin, account=account, role="Administrator")
    robot = TokenFactory(account=account, name="Admin robot", modules=["MOD-1756"])
    steady = [
        TokenFactory(account=account, name=f"Steady {n}", modules=["MOD-1756"]) for n in range(4)
    ]
    victims = [TokenFactory(account=account, name="Load victim") for _ in range(3)]

    # The default per-address failure limit would turn the probes' refusals into 429s.
    with https_server(tmp_path, API_AUTH_FAILURE_LIMIT="1000000") as server:
        result = run_load(
            server,
            seconds=SECONDS,
            steady=[t.plain_value for t in steady],
            victims={t.public_id: t.plain_value for t in victims},
            robot=robot.plain_value,
            admin_email=admin.email,
            admin_password=PASSWORD,
            workdir=tmp_path,
        )
        log = server.log.read_text(errors="replace")
    summary = result.summary()
    if os.environ.get("LOAD_RESULTS"):
        Path(os.environ["LOAD_RESULTS"]).write_text(json.dumps(summary, indent=2) + "\n")

    assert summary["wrk"]["errors"] == 0, summary
    assert set(summary["wrk"]["statuses"]) == {"200"}, summary
    assert set(summary["probe_statuses"]) <= {"200", "401"}, summary
    assert {"200", "401"} <= set(summary["probe_statuses"]), summary
    assert not [s for s in summary["admin_statuses"] if s.split()[1].startswith("5")], summary
    assert summary["requests_checked_while_disabled"] > 0, summary
    assert summary["accepted_while_disabled"] == 0, summary
    assert summary["disabled_intervals"] >= 3, summary
    assert verify_chain(account.public_id).first_break is None
    assert "Traceback" not in log, log[-3000:]
