"""200 mixed requests at once through the real API and admin pages (PostgreSQL, gunicorn over
HTTPS, real threads and connections), first all on one token, then spread over ten tokens of
one account: zero 5xx; every loser gets a clear 4xx (or a message on the page); each token's
final state equals its last audit record; the records are exactly the committed changes; the
hash chain verifies; no request waits on a lock longer than the configured lock timeout."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from apitokens import services
from apitokens.models import ApiToken, TokenStatus
from audit.chain import verify_chain
from audit.models import AuditRecord
from tests.conftest import require_postgres
from tests.factories import AccountFactory, MembershipFactory, TokenFactory, UserFactory
from tests.live import https_server
from tests.security.web import Administrator, api_outcome, http_client, ui_outcome

REQUESTS = 200
WORKERS = 16
LOCK_TIMEOUT_MS = 2000
PASSWORD = "a long enough passphrase"
API = "/public/v1/accounts/api-tokens"
ACTIONS = ("api-disable", "api-enable", "api-update", "ui-disable", "ui-enable", "ui-edit")


def plan_of(tokens: list[ApiToken], rng: random.Random) -> list[tuple[str, ApiToken]]:
    plan = [(rng.choice(ACTIONS), rng.choice(tokens)) for _ in range(REQUESTS)]
    # A few deletes, late enough that the tokens are fought over first.
    for position in rng.sample(range(REQUESTS // 2, REQUESTS), 4):
        plan[position] = (rng.choice(("api-delete", "ui-delete")), plan[position][1])
    return plan


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("spread", [1, 10], ids=["one-token", "ten-tokens"])
def test_200_mixed_requests_through_the_endpoints(tmp_path: Path, spread: int) -> None:
    require_postgres()
    account = AccountFactory(name="Contended")
    admin = UserFactory(email="admin@contended.test", name="Admin", password=PASSWORD)
    MembershipFactory(user=admin, account=account, role="Administrator")
    robot = TokenFactory(account=account, name="Admin robot", modules=["MOD-1756"])
    tokens = [TokenFactory(account=account, name=f"Target {n}") for n in range(spread)]
    plan = plan_of(tokens, random.Random(20261201 + spread))

    with https_server(tmp_path, DB_LOCK_TIMEOUT_MS=str(LOCK_TIMEOUT_MS)) as server:
        # One session per worker: a refused edit leaves its message in the session for the page
        # it redirects to, and a shared session would let another thread read it first.
        administrators = [Administrator(server, admin.email, PASSWORD) for _ in range(WORKERS)]
        apis = [http_client(server) for _ in range(WORKERS // 2)]
        outcomes: Counter[str] = Counter()
        wins: Counter[str] = Counter()
        slowest = 0.0
        lock = threading.Lock()
        start = threading.Barrier(WORKERS)

        def act(worker: int, action: str, token: ApiToken) -> None:
            nonlocal slowest
            kind, verb = action.split("-")
            began = time.monotonic()
            if kind == "api":
                client = apis[worker % len(apis)]
                headers = {"Authorization": f"Bearer {robot.plain_value}"}
                path = f"{API}/{token.public_id}"
                if verb == "update":
                    response = client.put(
                        path, json={"description": f"edit {began}"}, headers=headers
                    )
                elif verb == "delete":
                    response = client.delete(path, headers=headers)
                else:
                    response = client.post(f"{path}/{verb}", json={}, headers=headers)
                outcome = api_outcome(response)
            else:
                browser = administrators[worker]
                base = f"/settings/api-tokens/{token.public_id}"
                if verb == "edit":
                    response = browser.post(
                        f"{base}/edit/",
                        {"step": "general", "name": token.name, "description": f"ui {began}"},
                    )
                else:
                    response = browser.post(f"{base}/{verb}/", {"origin": "list"})
                outcome = ui_outcome(response, browser)
            elapsed = time.monotonic() - began
            with lock:
                slowest = max(slowest, elapsed)
                outcomes[f"{action}:{outcome}"] += 1
                if outcome == "won":
                    wins[token.public_id] += 1

        def worker(index: int, chunk: list[tuple[str, ApiToken]]) -> None:
            start.wait()
            for action, token in chunk:
                act(index, action, token)

        chunks = [plan[i::WORKERS] for i in range(WORKERS)]
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(lambda args: worker(*args), enumerate(chunks)))
        for browser in administrators:
            browser.close()
        for client in apis:
            client.close()
        server_log = server.log.read_text(errors="replace")

    strange = {k: v for k, v in outcomes.items() if not k.endswith((":won", ":lost"))}
    assert strange == {}, (strange, server_log[-3000:])
    assert sum(outcomes.values()) == REQUESTS
    assert any(k.endswith(":lost") for k in outcomes), "no request lost: no contention shown"
    # A wait on a row lock ends by the lock timeout at the latest (and would be a 503 then).
    assert slowest < LOCK_TIMEOUT_MS / 1000 + 3.0

    for token in tokens:
        records = list(AuditRecord.objects.filter(object_id=token.public_id).order_by("seq"))
        changes = [r for r in records if r.event_key != services.EVENT_CREATED]
        assert len(changes) == wins[token.public_id], token.public_id
        state = TokenStatus.ACTIVE
        for entry in changes:
            moved: Any = entry.documents.get("status")
            if entry.event_key == services.EVENT_STATUS_CHANGED:
                assert moved["from"] == state
                state = moved["to"]
        final = ApiToken.objects.get(pk=token.pk)
        assert final.status == state
        if state == TokenStatus.DELETED:
            # Nothing happened to a token after its deletion.
            assert changes[-1].event_key == services.EVENT_STATUS_CHANGED
    assert verify_chain(account.public_id).first_break is None
