"""Database triggers that make the audit table append-only, on SQLite and PostgreSQL.

The application never updates or deletes an audit record; these triggers make the database
itself refuse it, so a bug or a stray SQL session cannot quietly rewrite history. (Someone with
the rights to drop a trigger can still do damage: that is what the hash chain and
``manage.py audit verify`` are for.)
"""

from __future__ import annotations

TABLE = "audit_auditrecord"
MESSAGE = "audit records are append-only"

_SQLITE_INSTALL = [
    f"CREATE TRIGGER IF NOT EXISTS audit_record_no_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_record_no_delete BEFORE DELETE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_record_no_update",
    "DROP TRIGGER IF EXISTS audit_record_no_delete",
]
_POSTGRES_INSTALL = [
    "CREATE OR REPLACE FUNCTION audit_record_refuse_change() RETURNS trigger "
    f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{MESSAGE}' "
    "USING ERRCODE = 'insufficient_privilege'; END $$",
    f"CREATE TRIGGER audit_record_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION audit_record_refuse_change()",
    f"CREATE TRIGGER audit_record_no_truncate BEFORE TRUNCATE ON {TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_record_refuse_change()",
]
_POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS audit_record_no_update_delete ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_record_no_truncate ON {TABLE}",
]


def install_sql(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return list(_SQLITE_INSTALL)
    if vendor == "postgresql":
        return list(_POSTGRES_INSTALL)
    raise NotImplementedError(f"no append-only triggers for database vendor {vendor!r}")


def drop_sql(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return list(_SQLITE_DROP)
    if vendor == "postgresql":
        return list(_POSTGRES_DROP)
    raise NotImplementedError(f"no append-only triggers for database vendor {vendor!r}")
