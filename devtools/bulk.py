"""Bulk inserts without model instances, for generated data (``manage.py bench_seed``).

``bulk_create`` builds a model instance per row and prepares every value through its field,
which is four fifths of the time when a million audit records are seeded. Here rows are plain
tuples; only the values whose database form differs from the Python one (datetimes, JSON) go
through their field, once each. PostgreSQL gets ``COPY … FROM STDIN``, SQLite one prepared
``INSERT`` run with ``executemany``. Runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connections, models, router
from django.db.backends.base.base import BaseDatabaseWrapper

# Fields whose Python value is not what the database driver takes as it is.
_PREPARED_TYPES = frozenset({"DateTimeField", "DateField", "JSONField", "DecimalField"})


def insert_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Insert ``rows`` (values in the order of ``fields``, foreign keys as raw ids); return
    how many. No signals, no defaults: every column without a database default is given."""
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    concrete = [meta.get_field(name) for name in fields]
    columns = [str(field.column) for field in concrete if isinstance(field, models.Field)]
    if len(columns) != len(fields):
        raise ValueError("insert_rows takes concrete fields only")
    preps: list[Callable[[Any], Any] | None] = [
        _prep(field, connection)
        if isinstance(field, models.Field) and field.get_internal_type() in _PREPARED_TYPES
        else None
        for field in concrete
    ]
    prepared = [
        [value if prep is None else prep(value) for value, prep in zip(row, preps, strict=True)]
        for row in rows
    ]
    if not prepared:
        return 0
    quote = connection.ops.quote_name
    table = quote(str(meta.db_table))
    names = ", ".join(quote(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The driver's own cursor: its errors become Django's (IntegrityError …) here.
            with (
                connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
            ):
                for row in prepared:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", prepared)  # noqa: S608 - names come from the model, values are parameters
    return len(prepared)


def _prep(field: models.Field[Any, Any], connection: BaseDatabaseWrapper) -> Callable[[Any], Any]:
    def prep(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    return prep
