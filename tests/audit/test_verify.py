"""``manage.py audit verify``: a clean trail verifies; every kind of tampering is named.

Tampering needs the append-only triggers out of the way, exactly as an attacker with DDL rights
would do it: drop them, change the table, put them back. SQLite and PostgreSQL both run DDL
inside a transaction, so this happens inside the test's own transaction and is rolled back
with it (no chance of leaving the triggers dropped for the next test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit import chain as audit_chain
from audit import triggers
from audit.chain import PLATFORM_CHAIN, hash_of, verify_chain
from audit.models import AuditRecord
from audit.recorder import record
from audit.types import Actor, ObjectRef


def write(account_id: str | None, summary: str = "API token CRM robot updated") -> AuditRecord:
    with transaction.atomic():
        return record(
            event="platform.accounts.api_token.updated",
            obj=ObjectRef(id="TKN-1111-2222", name="CRM robot", object_type="ApiToken"),
            actor=Actor.system(),
            account_id=account_id,
            summary=summary,
            details=f"{summary}, in full.",
        )


def tamper(sql: str, params: list[Any]) -> None:
    vendor = connection.vendor
    with connection.cursor() as cursor:
        for statement in triggers.drop_sql(vendor):
            cursor.execute(statement)
        cursor.execute(sql, params)
        for statement in triggers.install_sql(vendor):
            cursor.execute(statement)


def verify(*args: str) -> tuple[str, CommandError | None]:
    out = StringIO()
    try:
        call_command("audit", "verify", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


@pytest.fixture
def trail(acme, globex) -> dict[str, list[AuditRecord]]:
    """Five records for Acme, two for Globex and one for the platform, interleaved."""
    made: dict[str, list[AuditRecord]] = {acme.public_id: [], globex.public_id: []}
    for n in range(5):
        made[acme.public_id].append(write(acme.public_id, f"acme change {n}"))
        if n < 2:
            made[globex.public_id].append(write(globex.public_id, f"globex change {n}"))
    made[PLATFORM_CHAIN] = [write(None, "platform change")]
    return made


def test_it_verifies_a_clean_trail_with_counts(trail, acme, globex):
    output, error = verify()
    assert error is None
    lines = output.splitlines()
    assert f"{acme.public_id}: OK, 5 records" in lines
    assert f"{globex.public_id}: OK, 2 records" in lines
    assert f"{PLATFORM_CHAIN}: OK, 1 records" in lines
    assert lines[-1] == "3 chains verified, 0 broken."


def test_it_reports_a_clean_trail_as_one_json_document(trail, acme):
    output, error = verify("--json")
    assert error is None
    report = json.loads(output)
    assert report["ok"] is True
    by_chain = {entry["chain"]: entry for entry in report["chains"]}
    assert by_chain[acme.public_id] == {
        "chain": acme.public_id,
        "records": 5,
        "unkeyed": 0,
        "ok": True,
        "break": None,
    }
    assert len(by_chain) == 3


def test_it_says_so_when_there_is_nothing_to_verify(db):
    output, error = verify()
    assert error is None
    assert output.strip() == "No audit chains yet."


def test_it_names_a_record_altered_with_the_triggers_dropped(trail, acme, globex):
    victim = trail[acme.public_id][2]
    tamper(
        f"UPDATE {triggers.TABLE} SET summary = %s WHERE id = %s",
        ["nothing to see here", victim.pk],
    )
    assert AuditRecord.objects.get(pk=victim.pk).summary == "nothing to see here"

    output, error = verify()

    assert error is not None
    assert victim.public_id in str(error)
    assert (
        f"{acme.public_id}: BROKEN at {victim.public_id} (seq 3): "
        "content does not match its hash (record altered)"
    ) in output.splitlines()
    # The other chains are unaffected.
    assert f"{globex.public_id}: OK, 2 records" in output
    assert "3 chains verified, 1 broken." in output


def test_it_names_the_record_after_one_altered_with_a_recomputed_hash(trail, acme):
    victim, successor = trail[acme.public_id][1], trail[acme.public_id][2]
    victim.summary = "rewritten"
    forged_hash = hash_of(victim)
    tamper(
        f"UPDATE {triggers.TABLE} SET summary = %s, hash = %s WHERE id = %s",
        ["rewritten", forged_hash, victim.pk],
    )
    output, error = verify("--account", acme.public_id)
    assert error is not None
    assert f"BROKEN at {successor.public_id} (seq 3): previous-hash link" in output


def test_it_names_the_last_record_altered_with_a_recomputed_hash(trail, acme):
    last = trail[acme.public_id][-1]
    last.summary = "rewritten"
    tamper(
        f"UPDATE {triggers.TABLE} SET summary = %s, hash = %s WHERE id = %s",
        ["rewritten", hash_of(last), last.pk],
    )
    output, error = verify("--account", acme.public_id)
    assert error is not None
    assert f"BROKEN at {last.public_id} (seq 5): hash does not match the chain head" in output


def test_it_detects_a_record_deleted_from_the_middle(trail, acme):
    gone, successor = trail[acme.public_id][1], trail[acme.public_id][2]
    tamper(f"DELETE FROM {triggers.TABLE} WHERE id = %s", [gone.pk])
    output, error = verify()
    assert error is not None
    assert (
        f"{acme.public_id}: BROKEN at {successor.public_id} (seq 3): "
        "sequence jumps from 1 to 3 (records missing)"
    ) in output.splitlines()


def test_it_detects_the_last_record_deleted(trail, acme):
    last = trail[acme.public_id][-1]
    tamper(f"DELETE FROM {triggers.TABLE} WHERE id = %s", [last.pk])
    output, error = verify()
    assert error is not None
    assert (
        f"{acme.public_id}: BROKEN at missing record (seq 5): chain ends at record 4 "
        "but its head says 5 (records removed from the end)"
    ) in output.splitlines()
    report = json.loads(verify("--json")[0])
    [acme_report] = [entry for entry in report["chains"] if entry["chain"] == acme.public_id]
    assert report["ok"] is False
    assert acme_report["break"]["seq"] == 5
    assert acme_report["break"]["recordId"] is None


def test_it_detects_a_record_appended_behind_the_heads_back(trail, acme):
    # Inserts are allowed by the triggers; a well-formed record added without moving the head
    # (as a direct INSERT would) still breaks the chain.
    last = trail[acme.public_id][-1]
    forged = AuditRecord(
        **{name: getattr(last, name) for name in audit_chain.HASHED_FIELDS},
        event_id=last.event_id,
    )
    forged.public_id = "AUD-0000-0000-0000-0001"
    forged.seq = last.seq + 1
    forged.prev_hash = last.hash
    forged.summary = "an event that never happened"
    forged.hash = hash_of(forged)
    forged.save(force_insert=True)
    output, error = verify("--account", acme.public_id)
    assert error is not None
    assert f"BROKEN at {forged.public_id} (seq 6): chain has 6 records but its head says 5" in (
        output
    )


def test_it_verifies_only_the_chosen_account(trail, acme, globex):
    victim = trail[globex.public_id][0]
    tamper(
        f"UPDATE {triggers.TABLE} SET summary = %s WHERE id = %s",
        ["rewritten", victim.pk],
    )
    output, error = verify("--account", acme.public_id)
    assert error is None
    assert output.splitlines() == [
        f"{acme.public_id}: OK, 5 records",
        "1 chains verified, 0 broken.",
    ]
    assert verify("--account", globex.public_id)[1] is not None


def test_it_refuses_a_malformed_account_id(db):
    with pytest.raises(CommandError, match="account: 'acme' is not an account id"):
        call_command("audit", "verify", "--account", "acme", stdout=StringIO())


def test_it_does_not_mistake_a_record_appended_during_the_walk_for_a_broken_chain(
    trail, acme, monkeypatch
):
    # A live system keeps appending while `audit verify` walks. The head is read before the
    # walk, so a record committed mid-walk is not "records removed from the end".
    real_hash_of = audit_chain.hash_of
    appended: list[AuditRecord] = []

    def hash_of_while_appending(entry: AuditRecord) -> str:
        if not appended:
            appended.append(write(acme.public_id, "appended mid-walk"))
        return real_hash_of(entry)

    monkeypatch.setattr(audit_chain, "hash_of", hash_of_while_appending)
    report = verify_chain(acme.public_id)
    assert appended
    assert report.first_break is None
    assert report.records in (5, 6)


@pytest.mark.django_db(transaction=True)
def test_it_exits_non_zero_with_one_line_on_stderr(acme):
    # A real process: exit status and stderr are what an operator's script sees.
    victim = write(acme.public_id, "to be altered")
    write(acme.public_id, "after it")
    vendor = connection.vendor
    with connection.cursor() as cursor:
        try:
            for statement in triggers.drop_sql(vendor):
                cursor.execute(statement)
            cursor.execute(
                f"UPDATE {triggers.TABLE} SET summary = %s WHERE id = %s",
                ["altered", victim.pk],
            )
        finally:
            for statement in triggers.install_sql(vendor):
                cursor.execute(statement)

    result = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "audit", "verify"],
        env={**os.environ, "DATABASE_URL": database_url()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("CommandError: audit trail broken in 1 of 1 chains")
    assert victim.public_id in result.stderr
    assert f"{acme.public_id}: BROKEN at {victim.public_id} (seq 1)" in result.stdout


def database_url() -> str:
    """A DATABASE_URL for the test database this process is using."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    host = db["HOST"] or "localhost"
    return f"postgres://{quote(db['USER'], safe='')}{password}@{host}{port}/{db['NAME']}"
