"""Concurrent lifecycle calls on one token (PostgreSQL, real threads, separate connections).

The row lock must make every call either win cleanly or lose with a named error; the audit
trail must hold exactly the committed changes, in order, and the token's final state must be
what the last record says.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from apitokens import services
from apitokens.errors import InvalidTransition
from apitokens.models import ApiToken, TokenStatus
from audit.chain import verify_chain
from audit.models import AuditRecord
from audit.types import Actor
from tests.conftest import require_postgres
from tests.factories import AccountFactory, TokenFactory

CALLS = 200
WORKERS = 16


@pytest.mark.django_db(transaction=True)
def test_it_serialises_200_concurrent_calls_on_one_token():
    require_postgres()
    account = AccountFactory(name="Concurrency")
    token = TokenFactory(account=account, name="Contended")
    rng = random.Random(20261122)
    # Deletes are rare and late-ish so the token lives long enough to be fought over.
    plan = [rng.choice(["enable", "disable", "update"]) for _ in range(CALLS)]
    for position in rng.sample(range(CALLS // 2, CALLS), 3):
        plan[position] = "delete"
    start = threading.Barrier(WORKERS)
    outcomes: Counter[str] = Counter()
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def call(index: int, action: str) -> None:
        actor = Actor.system()
        try:
            if action == "update":
                services.update_token(
                    token=token.public_id, description=f"edit {index}", actor=actor
                )
            else:
                getattr(services, f"{action}_token")(token=token.public_id, actor=actor)
            key = f"{action}:ok"
        except InvalidTransition:  # includes TokenDeleted
            key = f"{action}:refused"
        except BaseException as exc:
            with lock:
                unexpected.append(exc)
            key = "error"
        finally:
            connections.close_all()
        with lock:
            outcomes[key] += 1

    def worker(chunk: list[tuple[int, str]]) -> None:
        start.wait()
        for index, action in chunk:
            call(index, action)

    chunks = [list(enumerate(plan))[i::WORKERS] for i in range(WORKERS)]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(worker, chunks))

    assert not unexpected, unexpected[:3]
    assert sum(outcomes.values()) == CALLS
    assert outcomes["delete:ok"] == 1, outcomes

    records = list(AuditRecord.objects.filter(object_id=token.public_id).order_by("seq"))
    status_records = [r for r in records if r.event_key == services.EVENT_STATUS_CHANGED]
    update_records = [r for r in records if r.event_key == services.EVENT_UPDATED]
    committed_status = outcomes["enable:ok"] + outcomes["disable:ok"] + outcomes["delete:ok"]
    # None lost, none extra.
    assert len(status_records) == committed_status
    assert len(update_records) == outcomes["update:ok"]
    assert len(records) == 1 + committed_status + outcomes["update:ok"]
    # Each status record starts where the previous one ended.
    state = TokenStatus.ACTIVE
    for entry in status_records:
        assert entry.documents["status"]["from"] == state
        state = entry.documents["status"]["to"]
    final = ApiToken.objects.get(pk=token.pk)
    assert final.status == state == TokenStatus.DELETED
    # Nothing happened to the token after its deletion.
    assert records[-1].event_key == services.EVENT_STATUS_CHANGED
    assert records[-1].documents["status"]["to"] == TokenStatus.DELETED
    report = verify_chain(account.public_id)
    assert report.first_break is None
    assert connection.vendor == "postgresql"
