"""Fixed-window counters for failed attempts, shared by every process: in the cache when it is
shared (Redis, with REDIS_URL), else in the database (``FailureCount``), falling back to this
process's memory while that store is unreachable.

Only failures are counted, so well-behaved clients never pay for a write. Each count is one
atomic increment in the store (Redis INCR; an UPDATE holding the row lock), so N processes
counting the same subject add up to exactly the number of failures.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import BaseCache
from django.db import IntegrityError, transaction
from django.db.models import F

from tokens_admin.models import FailureCount

logger = logging.getLogger(__name__)

# How long the limiters leave an unreachable store alone before trying it again.
RETRY_SECONDS = 30.0


def clock() -> float:
    """Wall-clock seconds that place an attempt in its window (tests move it, never sleep)."""
    return time.time()


@dataclass(frozen=True, slots=True)
class Verdict:
    """``allowed``: may the subject try (again) now. ``over``: the failure just counted was
    past the limit — it raced another process's failures past ``check()`` — and is to be
    answered as a refused attempt, so no more than ``limit`` are ever answered as failures."""

    allowed: bool
    retry_after: int
    over: bool = False


class CacheCounters:
    """Counters in a Django cache that all processes share (Redis): ``add`` creates a key with
    its expiry, ``incr`` is atomic."""

    def __init__(self, store: BaseCache) -> None:
        self.store = store

    def read(self, key: str) -> int:
        return int(self.store.get(key) or 0)

    def count(self, key: str, *, timeout: int, expires_at: int) -> int:
        if self.store.add(key, 1, timeout=timeout):
            return 1
        try:
            return int(self.store.incr(key))
        except ValueError:  # expired between add and incr
            self.store.set(key, 1, timeout=timeout)
            return 1


class DatabaseCounters:
    """Counters in the ``FailureCount`` table, for a node without Redis: every worker process
    shares its database, where a local-memory cache is one per process (and Django's
    database cache increments by get-then-set, losing concurrent failures)."""

    def read(self, key: str) -> int:
        found = FailureCount.objects.filter(key=key).values_list("count", flat=True).first()
        return int(found or 0)

    def count(self, key: str, *, timeout: int, expires_at: int) -> int:
        rows = FailureCount.objects.filter(key=key)
        created = False
        with transaction.atomic():
            if not rows.update(count=F("count") + 1):
                try:
                    with transaction.atomic():
                        FailureCount.objects.create(key=key, count=1, expires_at=expires_at)
                    created = True
                except IntegrityError:  # another process created it since our UPDATE
                    rows.update(count=F("count") + 1)
            # Our write holds the row's lock (SQLite: the database's) until commit, so the
            # count read is our own increment's, never one of a later failure.
            count = int(rows.values_list("count", flat=True).get())
        if created:
            # A new window of some subject: rows of windows that ended before it are garbage.
            FailureCount.objects.filter(expires_at__lt=expires_at - timeout).delete()
        return count


# A local-memory cache is one per process: with it (no REDIS_URL) count in the database.
_PROCESS_LOCAL_CACHES = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    }
)
_IN_CACHE = CacheCounters(cache)  # the proxy: the default cache as configured now
_IN_DATABASE = DatabaseCounters()


def shared_counters() -> CacheCounters | DatabaseCounters:
    """Where this node's processes count together (read per call: tests swap CACHES)."""
    if settings.CACHES["default"]["BACKEND"] in _PROCESS_LOCAL_CACHES:
        return _IN_DATABASE
    return _IN_CACHE


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

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()
            self._window = -1


class StoreHealth:
    """Whether the shared store answers, for every limiter of this process at once.

    After a failure the limiters count in this process and leave the store alone for
    ``retry_seconds`` (a store that times out instead of refusing would otherwise add its
    timeout to every request); then one call tries it again. Each change is logged once: a
    warning when the store goes away, a line when it is back — never a line per request.
    """

    def __init__(
        self, retry_seconds: float = RETRY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0

    def usable(self) -> bool:
        return not self._down or self.clock() >= self._retry_at

    def failed(self, exc: Exception) -> None:
        with self._lock:
            self._retry_at = self.clock() + self.retry_seconds
            if self._down:
                return
            self._down = True
        logger.warning(
            "rate limit store unreachable (%s); counting failures per process until it is back",
            type(exc).__name__,
        )

    def succeeded(self) -> None:
        if not self._down:
            return
        with self._lock:
            if not self._down:
                return
            self._down = False
        logger.info("rate limit store reachable again; counting failures in it")

    def reset(self) -> None:
        with self._lock:
            self._down = False
            self._retry_at = 0.0


store = StoreHealth()


class _Suspects:
    """The subjects this process saw fail in the current window, up to ``cap`` of them; past
    the cap everyone is a suspect until the window ends (memory stays bounded, limits hold)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._window = -1
        self._full_window = -1

    def add(self, subject: str, window: int) -> None:
        with self._lock:
            if window != self._window:
                self._seen.clear()
                self._window = window
            if len(self._seen) < self.cap:
                self._seen.add(subject)
            else:
                self._full_window = window

    def innocent(self, subject: str, window: int) -> bool:
        # No lock: each read is atomic, and a race with add() (or a window boundary) costs
        # at most one attempt that skips the store.
        if window == self._full_window:
            return False
        return window != self._window or subject not in self._seen

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
            self._window = -1
            self._full_window = -1


class FailureLimiter:
    """``suspects_only``: ``check()`` consults the shared store only for subjects this process
    saw fail in the current window (a set lookup for everyone else, instead of a store round
    trip on every request). Another server's failures then count here from this process's
    first failure of that subject: at most one more attempt per process and window."""

    def __init__(
        self,
        name: str,
        *,
        limit: int,
        window_seconds: int,
        suspects_only: bool = False,
        suspects_cap: int = 100_000,
    ) -> None:
        self.name = name
        self.limit = limit
        self.window_seconds = window_seconds
        self.suspects_only = suspects_only
        self._local = _LocalCounters()
        self._suspects = _Suspects(suspects_cap)

    def forget(self) -> None:
        """Drop what this process remembers (its counters, its suspects); tests start clean."""
        self._local.clear()
        self._suspects.clear()

    def _window(self, now: float) -> tuple[int, int]:
        window = int(now // self.window_seconds)
        retry_after = max(1, int((window + 1) * self.window_seconds - now + 0.999))
        return window, retry_after

    def _key(self, subject: str, window: int) -> str:
        return f"rl:{self.name}:{window}:{subject}"

    def unsuspected(self, subject: str) -> bool:
        """True when ``check()`` would allow ``subject`` without asking the store: a
        ``suspects_only`` limiter that saw no failure of it in this window (one set lookup,
        for the path every valid request takes)."""
        return self.suspects_only and self._suspects.innocent(
            subject, int(clock() // self.window_seconds)
        )

    def check(self, subject: str, now: float | None = None) -> Verdict:
        """May ``subject`` try again now?"""
        window, retry_after = self._window(clock() if now is None else now)
        if self.suspects_only and self._suspects.innocent(subject, window):
            return Verdict(allowed=True, retry_after=retry_after)
        key = self._key(subject, window)
        count: int | None = None
        if store.usable():
            try:
                count = shared_counters().read(key)
            except Exception as exc:  # any store error: count here, never fail open
                store.failed(exc)
            else:
                store.succeeded()
        if count is None:
            count = self._local.get(key, window)
        return Verdict(allowed=count < self.limit, retry_after=retry_after)

    def fail(self, subject: str, now: float | None = None) -> Verdict:
        """Count one failure; the verdict says whether the subject is now over the limit, and
        whether this failure itself was."""
        window, retry_after = self._window(clock() if now is None else now)
        if self.suspects_only:
            self._suspects.add(subject, window)
        key = self._key(subject, window)
        count: int | None = None
        if store.usable():
            try:
                count = shared_counters().count(
                    key,
                    timeout=self.window_seconds + 1,
                    expires_at=(window + 1) * self.window_seconds + 1,
                )
            except Exception as exc:
                store.failed(exc)
            else:
                store.succeeded()
        if count is None:
            count = self._local.incr(key, window)
        return Verdict(allowed=count < self.limit, retry_after=retry_after, over=count > self.limit)
