"""The keyed chain: an insider who can rewrite the audit table (triggers dropped) but does not
hold AUDIT_CHAIN_KEY cannot re-chain a rewritten record, with plain SHA-256 or a key of their
own; records from before the key keep verifying; rotation keeps old records verifiable."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from audit import triggers
from audit.chain import (
    GENESIS,
    HASHED_FIELDS,
    PLAIN,
    hash_of,
    key_id_of,
    keyed_hash,
    plain_hash,
    verify_chain,
)
from audit.models import AuditChain, AuditRecord
from devtools.audit_seeding import seed_records
from tests.audit.test_verify import tamper, verify, write

Hasher = Callable[[dict[str, Any]], str]
WRONG_KEY = secrets.token_bytes(32)


def stored(chain: str) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(chain=chain).order_by("seq"))


def rechain(chain: str, start_seq: int, hasher: Hasher, summary: str = "nothing to see") -> None:
    """What an insider with the triggers dropped does: rewrite one record's summary, hash it
    and every later record again with ``hasher``, re-link them and move the head along."""
    records = stored(chain)
    prev = records[start_seq - 2].hash if start_seq > 1 else GENESIS
    for entry in records[start_seq - 1 :]:
        if entry.seq == start_seq:
            entry.summary = summary
        entry.prev_hash = prev
        entry.hash = hasher({name: getattr(entry, name) for name in HASHED_FIELDS})
        tamper(
            f"UPDATE {triggers.TABLE} SET summary = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [entry.summary, entry.prev_hash, entry.hash, entry.pk],
        )
        prev = entry.hash
    AuditChain.objects.filter(key=chain).update(last_hash=prev)


def newest_key_id() -> str:
    return next(iter(settings.AUDIT_CHAIN_KEY))


def test_new_records_carry_a_keyed_hash_naming_the_newest_key(acme):
    entry = write(acme.public_id)

    [saved] = stored(acme.public_id)
    assert saved.hash == entry.hash
    assert saved.hash.startswith(f"v2:{newest_key_id()}:")
    assert len(saved.hash) <= 64
    assert key_id_of(saved.hash) == newest_key_id()
    assert saved.hash != plain_hash({name: getattr(saved, name) for name in HASHED_FIELDS})
    assert hash_of(saved) == saved.hash
    assert AuditChain.objects.get(key=acme.public_id).last_hash == saved.hash


def test_a_record_rewritten_and_rechained_with_plain_sha256_is_named(acme):
    for n in range(5):
        write(acme.public_id, f"acme change {n}")
    victim = stored(acme.public_id)[2]

    rechain(acme.public_id, 3, plain_hash)

    # The forgery is self-consistent: every link and the head agree with it.
    assert stored(acme.public_id)[2].summary == "nothing to see"
    output, error = verify("--account", acme.public_id)
    assert error is not None
    assert (
        f"{acme.public_id}: BROKEN at {victim.public_id} (seq 3): "
        "plain SHA-256 hash after keyed ones (rewritten without AUDIT_CHAIN_KEY)"
    ) in output.splitlines()


@pytest.mark.parametrize(
    ("forged_key_id", "reason"),
    [
        # The right key id, a key of the attacker's own.
        (None, "content does not match its hash (record altered)"),
        ("evil", "hashed under key 'evil', which AUDIT_CHAIN_KEY does not hold"),
    ],
)
def test_a_record_rechained_with_an_hmac_under_a_wrong_key_is_named(acme, forged_key_id, reason):
    for n in range(5):
        write(acme.public_id, f"acme change {n}")
    victim = stored(acme.public_id)[2]
    key_id = forged_key_id or newest_key_id()

    rechain(acme.public_id, 3, lambda fields: keyed_hash(fields, key_id, WRONG_KEY))

    output, error = verify("--account", acme.public_id)
    assert error is not None
    assert f"BROKEN at {victim.public_id} (seq 3): {reason}" in output
    assert victim.public_id in str(error)


def test_a_hash_in_no_known_format_is_named(acme):
    write(acme.public_id)
    victim = write(acme.public_id)
    tamper(f"UPDATE {triggers.TABLE} SET hash = %s WHERE id = %s", ["v3:x:y", victim.pk])
    AuditChain.objects.filter(key=acme.public_id).update(last_hash="v3:x:y")

    output, error = verify()

    assert error is not None
    assert f"BROKEN at {victim.public_id} (seq 2): hash is in no known format" in output


def test_plain_records_from_before_the_key_then_keyed_ones_verify_clean(acme, monkeypatch):
    # The records an earlier release wrote: plain SHA-256, by the function it used.
    monkeypatch.setattr("audit.chain.record_hash", plain_hash)
    for n in range(3):
        write(acme.public_id, f"before the upgrade {n}")
    monkeypatch.undo()
    for n in range(2):
        write(acme.public_id, f"after the upgrade {n}")

    records = stored(acme.public_id)
    assert [key_id_of(r.hash) for r in records] == [PLAIN] * 3 + [newest_key_id()] * 2
    assert records[3].prev_hash == records[2].hash
    output, error = verify()
    assert error is None, output
    assert f"{acme.public_id}: OK, 5 records, 3 of them unkeyed (before AUDIT_CHAIN_KEY)" in (
        output.splitlines()
    )
    [report] = json.loads(verify("--json")[0])["chains"]
    assert (report["ok"], report["records"], report["unkeyed"]) == (True, 5, 3)


def test_a_plain_record_after_keyed_ones_is_a_break_even_from_the_app(acme, monkeypatch):
    # Never back from keyed to plain, whoever writes it (an old release still running, say):
    # otherwise plain SHA-256 would be a way round the key.
    write(acme.public_id)
    write(acme.public_id)
    monkeypatch.setattr("audit.chain.record_hash", plain_hash)
    downgraded = write(acme.public_id)

    report = verify_chain(acme.public_id)

    assert report.first_break is not None
    assert report.first_break.record_id == downgraded.public_id
    assert report.first_break.reason.startswith("plain SHA-256 hash after keyed ones")


def test_records_under_an_older_key_verify_after_rotation_while_it_is_listed(acme):
    old_key_id = newest_key_id()
    write(acme.public_id, "under the old key")
    rotated = {"k2": secrets.token_bytes(32), **settings.AUDIT_CHAIN_KEY}
    with override_settings(AUDIT_CHAIN_KEY=rotated):
        write(acme.public_id, "under the new key")
        assert verify_chain(acme.public_id).first_break is None
    assert [key_id_of(r.hash) for r in stored(acme.public_id)] == [old_key_id, "k2"]

    # Dropping the old key from the list makes its records unverifiable: keep every key.
    with override_settings(AUDIT_CHAIN_KEY={"k2": rotated["k2"]}):
        report = verify_chain(acme.public_id)
    assert report.first_break is not None
    assert report.first_break.seq == 1
    assert f"hashed under key {old_key_id!r}, which AUDIT_CHAIN_KEY does not hold" in (
        report.first_break.reason
    )


def test_the_longest_key_id_fits_the_hash_columns(acme):
    # 16 characters is the longest key id the parser allows; PostgreSQL enforces varchar(64).
    with override_settings(AUDIT_CHAIN_KEY={"k" * 16: secrets.token_bytes(32)}):
        write(acme.public_id)
        entry = write(acme.public_id)
        assert len(entry.hash) == 63
        assert verify_chain(acme.public_id).first_break is None


def test_the_bulk_seeder_writes_keyed_hashes(acme):
    seed_records(count=6, chains=[acme.public_id], batch_size=4)

    assert {key_id_of(r.hash) for r in stored(acme.public_id)} == {newest_key_id()}
    report = verify_chain(acme.public_id)
    assert (report.records, report.first_break, report.unkeyed) == (6, None, 0)
