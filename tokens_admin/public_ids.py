"""Random public identifiers (``TKN-1234-5678``) and collision-safe inserts.

Ids are random so they leak nothing about volume or order. Uniqueness is the database's job:
an insert that collides is retried with a fresh id inside a savepoint, which is safe under any
concurrency because the unique index decides, not a prior SELECT.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.db import IntegrityError, models, transaction

ID_ATTEMPTS = 10


def new_public_id(prefix: str, groups: int) -> str:
    parts = [f"{secrets.randbelow(10_000):04d}" for _ in range(groups)]
    return "-".join([prefix, *parts])


def insert_with_public_id[M: models.Model](
    obj: M,
    *,
    prefix: str,
    groups: int,
    field: str = "public_id",
    before_save: Callable[[M], None] | None = None,
) -> M:
    """Save ``obj`` as a new row, choosing a random unused public id.

    ``before_save`` runs after each id is chosen, for fields derived from the id.
    """
    model = type(obj)
    for _ in range(ID_ATTEMPTS):
        candidate = new_public_id(prefix, groups)
        setattr(obj, field, candidate)
        if before_save is not None:
            before_save(obj)
        try:
            with transaction.atomic():
                obj.save(force_insert=True)
        except IntegrityError:
            obj.pk = None
            if model._default_manager.filter(**{field: candidate}).exists():
                continue  # the id was taken: draw another
            raise
        return obj
    raise IntegrityError(f"could not find a free {prefix} id after {ID_ATTEMPTS} attempts")
