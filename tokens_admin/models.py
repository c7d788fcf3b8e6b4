"""The one table of tokens_admin itself: failure counters for the rate limiters when there is no
Redis (tokens_admin/ratelimit.py says why the database, and why exactly)."""

from __future__ import annotations

from django.db import models


class FailureCount(models.Model):
    """Failures of one subject in one window: ``key`` is ``rl:<limiter>:<window>:<subject>``."""

    key = models.CharField(max_length=200, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    # Epoch second after which the row is garbage: its window (and so its key) is over.
    expires_at = models.BigIntegerField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
