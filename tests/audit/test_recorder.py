"""``record()``: the one way in (SPEC section 6) — transactions, event types, masking, chains."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections, transaction

from accounts.models import Account
from apitokens import secrets as token_secrets
from audit.chain import GENESIS, PLATFORM_CHAIN, hash_of, verify_chain
from audit.models import AuditChain, AuditRecord, EventType
from audit.recorder import MASKED, AuditError, AuditOutsideTransaction, record
from audit.types import Actor, ActorType, ObjectRef, RequestContext
from tests.conftest import require_postgres
from tests.factories import AccountFactory
from tokens_admin.logging import REDACTED

EVENT = "platform.accounts.api_token.updated"


def write(account_id: str | None, event: str = EVENT, **kwargs: Any) -> AuditRecord:
    kwargs.setdefault("summary", "something happened")
    kwargs.setdefault("details", "Something happened, in full.")
    with transaction.atomic():
        return record(
            event=event,
            obj=ObjectRef(id="TKN-1111-2222", name="CRM robot", object_type="ApiToken"),
            actor=Actor.system(),
            account_id=account_id,
            **kwargs,
        )


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_record_outside_a_transaction():
    account = AccountFactory(name="Acme")
    with pytest.raises(AuditOutsideTransaction):
        record(
            event=EVENT,
            obj=ObjectRef(id="TKN-1111-2222", name="CRM robot", object_type="ApiToken"),
            actor=Actor.system(),
            account_id=account.public_id,
            summary="no transaction around me",
            details="Nothing, since no transaction holds it.",
        )
    assert not AuditRecord.objects.exists()
    assert not AuditChain.objects.filter(key=account.public_id).exists()


def test_it_refuses_a_malformed_event_key(acme):
    with pytest.raises(AuditError, match="invalid event key"):
        write(acme.public_id, event="Not A Key")
    assert not AuditRecord.objects.filter(account_id=acme.public_id).exists()


def test_it_creates_an_event_type_on_first_use_exactly_once(acme, globex):
    key = "extensions.crm.contact_synced"
    assert not EventType.objects.filter(key=key).exists()
    first = write(acme.public_id, event=key)
    second = write(globex.public_id, event=key)
    [event_type] = EventType.objects.filter(key=key)
    assert event_type.name == "Crm contact synced"
    assert event_type.public_id.startswith("AET-")
    assert first.event_id == second.event_id == event_type.pk
    assert first.event_key == second.event_key == key


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_event_type_under_concurrent_first_uses():
    require_postgres()
    key = "extensions.race.first_use"
    workers = 8
    accounts = [AccountFactory(name=f"Racer {n}") for n in range(workers)]
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def first_use(account: Account) -> None:
        try:
            start.wait()
            write(account.public_id, event=key)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first_use, args=(a,)) for a in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    [event_type] = EventType.objects.filter(key=key)
    records = AuditRecord.objects.filter(event_key=key)
    assert records.count() == workers
    assert set(records.values_list("event_id", flat=True)) == {event_type.pk}


def test_it_masks_secrets_in_documents_summary_and_details(acme):
    value = token_secrets.generate_value("TKN-1111-2222")
    secret_part = value.rsplit(":", 1)[1]
    entry = write(
        acme.public_id,
        summary=f"pasted {value} by mistake",
        details=f"Authorization: Bearer {value}",
        documents={
            "token": value,
            "Secret": "hunter2-but-longer",
            "digest": "a" * 64,
            "ciphertext": "dev1:" + "B" * 90,
            "password": "correct horse battery staple",
            "nested": [{"PASSWORD": "x"}, {"note": f"value was {value}"}],
            "snapshot": {"name": "CRM robot", "status": "Active"},
        },
        request=RequestContext(user_agent=f"curl {value}"),
    )
    stored = AuditRecord.objects.get(pk=entry.pk)
    assert stored.documents == {
        "token": MASKED,
        "Secret": MASKED,
        "digest": MASKED,
        "ciphertext": MASKED,
        "password": MASKED,
        "nested": [{"PASSWORD": MASKED}, {"note": f"value was idt:TKN-1111-2222:{REDACTED}"}],
        "snapshot": {"name": "CRM robot", "status": "Active"},
    }
    assert stored.summary == f"pasted idt:TKN-1111-2222:{REDACTED} by mistake"
    assert stored.details == f"Authorization: Bearer {REDACTED}"
    assert secret_part not in stored.request_user_agent
    # Masked before hashing: the record verifies as stored.
    assert hash_of(stored) == stored.hash


def test_it_links_each_record_to_the_previous_one_of_its_own_account(acme, globex):
    a1 = write(acme.public_id)
    g1 = write(globex.public_id)
    a2 = write(acme.public_id)
    p1 = write(None)
    g2 = write(globex.public_id)
    a3 = write(acme.public_id)

    assert [a1.seq, a2.seq, a3.seq] == [1, 2, 3]
    assert [g1.seq, g2.seq] == [1, 2]
    assert a1.prev_hash == g1.prev_hash == p1.prev_hash == GENESIS
    assert a2.prev_hash == a1.hash
    assert a3.prev_hash == a2.hash
    assert g2.prev_hash == g1.hash
    assert {a1.chain, a2.chain, a3.chain} == {acme.public_id}
    assert p1.chain == PLATFORM_CHAIN
    assert p1.account_id == ""
    head = AuditChain.objects.get(key=acme.public_id)
    assert (head.last_seq, head.last_hash) == (3, a3.hash)
    for stored in AuditRecord.objects.all():
        assert hash_of(stored) == stored.hash


def test_it_keeps_chains_of_different_accounts_independent(acme, globex):
    for _ in range(3):
        write(acme.public_id)
    before = AuditChain.objects.get(key=acme.public_id)
    for _ in range(4):
        write(globex.public_id)
    after = AuditChain.objects.get(key=acme.public_id)
    assert (after.last_seq, after.last_hash) == (before.last_seq, before.last_hash)
    acme_report, globex_report = verify_chain(acme.public_id), verify_chain(globex.public_id)
    assert (acme_report.records, acme_report.first_break) == (3, None)
    assert (globex_report.records, globex_report.first_break) == (4, None)


def test_it_stores_actor_object_and_request_as_plain_values(acme, alice):
    actor = Actor(
        id=alice.public_id,
        name=alice.name,
        type=ActorType.USER,
        account_id=acme.public_id,
        account_name=acme.name,
    )
    with transaction.atomic():
        entry = record(
            event=EVENT,
            obj=ObjectRef(id="TKN-1111-2222", name="CRM robot", object_type="ApiToken"),
            actor=actor,
            account_id=acme.public_id,
            summary="updated",
            details="Name: 'CRM' → 'CRM robot'.",
            request=RequestContext(ip="203.0.113.7", user_agent="pytest", trace_id="00-abc-01"),
        )
    stored = AuditRecord.objects.get(pk=entry.pk)
    assert (stored.actor_id, stored.actor_type, stored.actor_account_id) == (
        alice.public_id,
        "User",
        acme.public_id,
    )
    assert (stored.object_id, stored.object_type) == ("TKN-1111-2222", "ApiToken")
    assert (stored.request_ip, stored.request_user_agent) == ("203.0.113.7", "pytest")
