"""``append_many()``: many records in one go, exactly as ``record()`` would write them one by one
(same checks, masking and chain links), for bulk loaders such as ``bench_seed``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import transaction

from apitokens import secrets as token_secrets
from audit.chain import PLATFORM_CHAIN, hash_of, verify_chain
from audit.models import AuditChain, AuditRecord
from audit.recorder import AuditError, AuditOutsideTransaction, Entry, append_many, record
from audit.types import Actor, ObjectRef
from tokens_admin.logging import REDACTED

EVENT = "platform.accounts.api_token.updated"
ROBOT = ObjectRef(id="TKN-1111-2222", name="CRM robot", object_type="ApiToken")


def entry(account_id: str | None, **kwargs: Any) -> Entry:
    kwargs.setdefault("summary", "something happened")
    kwargs.setdefault("details", "Something happened, in full.")
    kwargs.setdefault("event", EVENT)
    return Entry(obj=ROBOT, actor=Actor.system(), account_id=account_id, **kwargs)


def test_it_chains_each_entry_onto_its_own_accounts_head(acme, globex):
    with transaction.atomic():
        first = record(
            event=EVENT,
            obj=ROBOT,
            actor=Actor.system(),
            account_id=acme.public_id,
            summary="real",
            details="A real record.",
        )
        written = append_many(
            [entry(acme.public_id), entry(globex.public_id), entry(None), entry(acme.public_id)]
        )

    assert written == 4
    acme_records = list(AuditRecord.objects.filter(chain=acme.public_id).order_by("seq"))
    assert [r.seq for r in acme_records] == [1, 2, 3]
    assert acme_records[1].prev_hash == first.hash
    assert AuditRecord.objects.get(chain=PLATFORM_CHAIN).account_id == ""
    for chain in (acme.public_id, globex.public_id, PLATFORM_CHAIN):
        report = verify_chain(chain)
        assert report.first_break is None
        last = AuditRecord.objects.filter(chain=chain).latest("seq")
        assert AuditChain.objects.get(key=chain).last_hash == last.hash == hash_of(last)


def test_it_masks_and_redacts_as_record_does(acme):
    value = token_secrets.generate_value("TKN-1111-2222")
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with transaction.atomic():
        append_many(
            [
                entry(
                    acme.public_id,
                    summary=f"leaked {value}",
                    details=f"Leaked {value}.",
                    documents={"token": value, "nested": {"secret": "s3cret"}},
                    timestamp=stamp,
                )
            ]
        )

    stored = AuditRecord.objects.get()
    assert value not in stored.summary + stored.details
    assert REDACTED in stored.summary
    assert stored.documents == {"token": "[MASKED]", "nested": {"secret": "[MASKED]"}}
    assert stored.timestamp == stamp


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_append_outside_a_transaction():
    with pytest.raises(AuditOutsideTransaction):
        append_many([entry(None)])
    assert not AuditRecord.objects.exists()


def test_it_refuses_bad_entries_whole(acme):
    with transaction.atomic(), pytest.raises(AuditError, match="summary and details"):
        append_many([entry(acme.public_id), entry(acme.public_id, details=" ")])
    with transaction.atomic(), pytest.raises(AuditError, match="invalid event key"):
        append_many([entry(acme.public_id, event="nope")])
    assert not AuditRecord.objects.exists()


def test_it_writes_nothing_for_nothing(acme):
    with transaction.atomic():
        assert append_many([]) == 0
    assert not AuditChain.objects.exists()
