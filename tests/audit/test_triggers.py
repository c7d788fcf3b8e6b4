"""The database itself refuses to rewrite history (SPEC section 6), on SQLite and PostgreSQL.

Each refused statement runs in its own savepoint: on PostgreSQL an error aborts the enclosing
transaction, and the test still wants to look at the row afterwards.
"""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit import triggers
from audit.models import AuditRecord
from audit.recorder import record
from audit.types import Actor, ObjectRef
from tests.conftest import require_postgres

APPEND_ONLY = "append-only"


@pytest.fixture
def entry(acme) -> AuditRecord:
    with transaction.atomic():
        return record(
            event="platform.accounts.api_token.created",
            obj=ObjectRef(id="TKN-1111-2222", name="CRM robot", object_type="ApiToken"),
            actor=Actor.system(),
            account_id=acme.public_id,
            summary="API token CRM robot created",
            details="API token CRM robot created with no modules.",
        )


def refused(sql: str, params: list[object] | None = None) -> DatabaseError:
    with (
        pytest.raises(DatabaseError, match=APPEND_ONLY) as caught,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
    return caught.value


def test_it_refuses_an_update_through_raw_sql(entry):
    refused(
        f"UPDATE {triggers.TABLE} SET summary = %s WHERE id = %s",
        ["rewritten", entry.pk],
    )
    assert AuditRecord.objects.get(pk=entry.pk).summary == "API token CRM robot created"


def test_it_refuses_a_delete_through_raw_sql(entry):
    refused(f"DELETE FROM {triggers.TABLE} WHERE id = %s", [entry.pk])
    assert AuditRecord.objects.filter(pk=entry.pk).exists()


def test_it_refuses_updates_and_deletes_through_the_orm(entry):
    with pytest.raises(DatabaseError, match=APPEND_ONLY), transaction.atomic():
        AuditRecord.objects.filter(pk=entry.pk).update(summary="rewritten")
    with pytest.raises(DatabaseError, match=APPEND_ONLY), transaction.atomic():
        AuditRecord.objects.filter(pk=entry.pk).delete()
    stored = AuditRecord.objects.get(pk=entry.pk)
    assert stored.summary == "API token CRM robot created"


def test_it_still_accepts_inserts(entry, acme):
    with transaction.atomic():
        second = record(
            event="platform.accounts.api_token.updated",
            obj=ObjectRef(id="TKN-1111-2222", name="CRM robot", object_type="ApiToken"),
            actor=Actor.system(),
            account_id=acme.public_id,
            summary="API token CRM robot updated",
            details="Name: 'CRM' → 'CRM robot'.",
        )
    assert second.seq == 2
    assert AuditRecord.objects.filter(chain=acme.public_id).count() == 2


def test_it_refuses_truncate_on_postgresql(entry):
    require_postgres()
    with connection.cursor() as cursor:
        # Run the deferred foreign-key checks of the insert above now; PostgreSQL refuses to
        # TRUNCATE a table with pending trigger events before our trigger even gets a say.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    refused(f"TRUNCATE {triggers.TABLE}")
    assert AuditRecord.objects.filter(pk=entry.pk).exists()


def test_it_has_triggers_for_both_supported_vendors():
    for vendor in ("sqlite", "postgresql"):
        assert triggers.install_sql(vendor)
        assert triggers.drop_sql(vendor)
    with pytest.raises(NotImplementedError):
        triggers.install_sql("mysql")
