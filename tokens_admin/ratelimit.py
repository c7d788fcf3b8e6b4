"""Fixed-window counters for failed attempts, shared through the cache (Redis when
configured) and falling back to this process's memory when the cache is unreachable.

Only failures are counted, so well-behaved clients never pay for a cache round trip.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int


class _LocalCounters:
    """Per-process fallback: a dict of (key, window) -> count, pruned as windows pass."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._window = -1

    def get(self, key: str, window: int) -> int:
        with self._lock:
            self._roll(window)
            return self._counts.get(key, 0)

    def incr(self, key: str, window: int) -> int:
        with self._lock:
            self._roll(window)
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    def _roll(self, window: int) -> None:
        if window != self._window:
            self._counts.clear()
            self._window = window


class FailureLimiter:
    def __init__(self, name: str, *, limit: int, window_seconds: int) -> None:
        self.name = name
        self.limit = limit
        self.window_seconds = window_seconds
        self._local = _LocalCounters()
        self._cache_down_logged = False

    def _window(self, now: float) -> tuple[int, int]:
        window = int(now // self.window_seconds)
        retry_after = max(1, int((window + 1) * self.window_seconds - now + 0.999))
        return window, retry_after

    def _key(self, subject: str, window: int) -> str:
        return f"rl:{self.name}:{window}:{subject}"

    def _cache_failed(self, exc: Exception) -> None:
        if not self._cache_down_logged:
            self._cache_down_logged = True
            logger.warning(
                "rate limit store unreachable (%s); counting failures per process",
                type(exc).__name__,
            )

    def check(self, subject: str, now: float | None = None) -> Verdict:
        """May ``subject`` try again now?"""
        window, retry_after = self._window(time.time() if now is None else now)
        key = self._key(subject, window)
        try:
            count = int(cache.get(key) or 0)
        except Exception as exc:  # any cache backend error: fall back, never fail open silently
            self._cache_failed(exc)
            count = self._local.get(key, window)
        return Verdict(allowed=count < self.limit, retry_after=retry_after)

    def fail(self, subject: str, now: float | None = None) -> Verdict:
        """Count one failure; the verdict says whether the subject is now over the limit."""
        window, retry_after = self._window(time.time() if now is None else now)
        key = self._key(subject, window)
        try:
            count = 1 if cache.add(key, 1, timeout=self.window_seconds + 1) else cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=self.window_seconds + 1)
            count = 1
        except Exception as exc:
            self._cache_failed(exc)
            count = self._local.incr(key, window)
        return Verdict(allowed=count < self.limit, retry_after=retry_after)
