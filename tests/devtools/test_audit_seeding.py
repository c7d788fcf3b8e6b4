"""``seed_records``: fast bulk records that are indistinguishable, to the chain, from real ones,
written through the product's own bulk writer (``audit.recorder.append_many``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from audit import recorder
from audit.chain import PLATFORM_CHAIN, verify_chain
from audit.models import AuditChain, AuditRecord, EventType
from audit.recorder import record
from audit.types import Actor, ObjectRef
from devtools.audit_seeding import EVENTS, seed_records


def append(account_id: str) -> AuditRecord:
    with transaction.atomic():
        return record(
            event="platform.accounts.api_token.updated",
            obj=ObjectRef(id="TKN-1111-2222", name="CRM robot", object_type="ApiToken"),
            actor=Actor.system(),
            account_id=account_id,
            summary="a real record",
            details="A real record, written by record().",
        )


def test_it_seeds_valid_chains_across_batches(acme, globex):
    batches: list[int] = []
    written = seed_records(
        count=53,
        chains=[acme.public_id, globex.public_id, PLATFORM_CHAIN],
        batch_size=10,
        on_batch=batches.append,
    )
    assert written == 53
    assert batches == [10, 20, 30, 40, 50, 53]
    expected = {acme.public_id: 18, globex.public_id: 18, PLATFORM_CHAIN: 17}
    for chain, count in expected.items():
        report = verify_chain(chain)
        assert (report.records, report.first_break) == (count, None)
        head = AuditChain.objects.get(key=chain)
        last = AuditRecord.objects.get(chain=chain, seq=count)
        assert (head.last_seq, head.last_hash) == (count, last.hash)
    assert set(
        AuditRecord.objects.filter(chain=PLATFORM_CHAIN).values_list("account_id", flat=True)
    ) == {""}
    ids = list(AuditRecord.objects.values_list("public_id", flat=True))
    assert len(set(ids)) == 53
    assert all(re.fullmatch(r"AUD-\d{4}-\d{4}-\d{4}-\d{4}", public_id) for public_id in ids)
    assert EventType.objects.filter(key__in=EVENTS).count() == len(EVENTS)


def test_it_continues_a_chain_that_record_started_and_record_carries_on(acme):
    first = append(acme.public_id)
    seed_records(count=7, chains=[acme.public_id], batch_size=3)
    after = append(acme.public_id)
    assert after.seq == 9
    assert AuditRecord.objects.get(chain=acme.public_id, seq=2).prev_hash == first.hash
    assert after.prev_hash == AuditRecord.objects.get(chain=acme.public_id, seq=8).hash
    report = verify_chain(acme.public_id)
    assert (report.records, report.first_break) == (9, None)


def test_it_spaces_timestamps_so_records_read_back_in_seeding_order(acme):
    end = datetime(2026, 3, 1, tzinfo=UTC)
    seed_records(count=4, chains=[acme.public_id], end=end, step=timedelta(minutes=1))
    stamps = list(AuditRecord.objects.order_by("seq").values_list("timestamp", flat=True))
    assert stamps == [end - timedelta(minutes=n) for n in (3, 2, 1, 0)]


def test_it_writes_nothing_for_zero_and_refuses_nonsense(acme):
    assert seed_records(count=0, chains=[acme.public_id]) == 0
    assert not AuditRecord.objects.exists()
    with pytest.raises(ValueError, match="at least one chain"):
        seed_records(count=1, chains=[])
    with pytest.raises(ValueError, match="batch_size"):
        seed_records(count=1, chains=[acme.public_id], batch_size=0)


def test_it_redraws_a_batch_whose_random_id_collides(acme, monkeypatch):
    taken = append(acme.public_id)
    real_new_public_id = recorder.new_public_id
    drawn = iter([taken.public_id])  # the unique index refuses the first batch

    def colliding_once(prefix: str, groups: int) -> str:
        return next(drawn, None) or real_new_public_id(prefix, groups)

    monkeypatch.setattr(recorder, "new_public_id", colliding_once)
    assert seed_records(count=3, chains=[acme.public_id]) == 3
    report = verify_chain(acme.public_id)
    assert (report.records, report.first_break) == (4, None)
    assert AuditRecord.objects.filter(public_id=taken.public_id).count() == 1


def test_it_goes_through_the_recorders_bulk_writer(acme, monkeypatch):
    calls: list[int] = []
    real = recorder.append_many

    def counted(entries, **kwargs):
        calls.append(len(entries))
        return real(entries, **kwargs)

    monkeypatch.setattr("devtools.audit_seeding.append_many", counted)
    seed_records(count=12, chains=[acme.public_id], batch_size=5)
    assert calls == [5, 5, 2]
