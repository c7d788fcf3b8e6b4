"""FailureLimiter with ``suspects_only``: the shared store is asked only about subjects this
process saw fail in the current window, and every limit still holds."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest

from tokens_admin import ratelimit
from tokens_admin.ratelimit import FailureLimiter

# The store is the database when there is no Redis.
pytestmark = pytest.mark.django_db

WINDOW = 60
NOW = 1_000_000.0 * WINDOW + 5  # the start of a window, plus 5 s


@pytest.fixture
def limiter() -> Iterator[FailureLimiter]:
    # A name of its own per test: counters of other tests (or of a shared Redis) never count.
    limiter = FailureLimiter(
        f"test-{secrets.token_hex(4)}", limit=3, window_seconds=WINDOW, suspects_only=True
    )
    ratelimit.store.reset()
    yield limiter
    ratelimit.store.reset()


class CountingStore:
    """The real shared store (Redis, or the database without it), with its reads counted."""

    def __init__(self) -> None:
        self.store = ratelimit.shared_counters()
        self.gets = 0

    def read(self, key: str) -> int:
        self.gets += 1
        return self.store.read(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@contextmanager
def counting() -> Iterator[CountingStore]:
    store = CountingStore()
    with mock.patch.object(ratelimit, "shared_counters", return_value=store):
        yield store


def test_an_address_that_never_failed_is_allowed_without_asking_the_store(
    limiter: FailureLimiter,
) -> None:
    with counting() as store:
        verdicts = [limiter.check("203.0.113.7", now=NOW + i) for i in range(100)]
    assert all(v.allowed for v in verdicts)
    assert store.gets == 0


def test_an_address_is_blocked_at_the_limit_and_its_checks_ask_the_store(
    limiter: FailureLimiter,
) -> None:
    with counting() as store:
        for i in range(3):
            assert limiter.check("203.0.113.8", now=NOW + i).allowed
            limiter.fail("203.0.113.8", now=NOW + i)
        blocked = limiter.check("203.0.113.8", now=NOW + 10)
        other = limiter.check("203.0.113.9", now=NOW + 10)
    assert not blocked.allowed
    assert blocked.retry_after == WINDOW - 15
    assert other.allowed
    # The first check was before any failure; the next two and the blocked one asked.
    assert store.gets == 3


def test_failures_counted_by_other_servers_block_here_from_this_process_first_failure(
    limiter: FailureLimiter,
) -> None:
    subject = "198.51.100.20"
    key = limiter._key(subject, int(NOW // WINDOW))
    for _ in range(10):  # another app server's counts, in the shared store
        ratelimit.shared_counters().count(key, timeout=WINDOW + 1, expires_at=int(NOW) + WINDOW)
    # Not yet a suspect here: one attempt goes through (the documented bound) ...
    assert limiter.check(subject, now=NOW).allowed
    limiter.fail(subject, now=NOW)
    # ... and from then on the shared count decides.
    assert not limiter.check(subject, now=NOW + 1).allowed


def test_suspects_are_forgotten_when_their_window_ends(limiter: FailureLimiter) -> None:
    for i in range(3):
        limiter.fail("192.0.2.30", now=NOW + i)
    assert not limiter.check("192.0.2.30", now=NOW + 3).allowed
    with counting() as store:
        assert limiter.check("192.0.2.30", now=NOW + WINDOW).allowed
    assert store.gets == 0


def test_past_the_cap_everyone_is_checked_until_the_window_ends() -> None:
    limiter = FailureLimiter(
        f"test-{secrets.token_hex(4)}",
        limit=3,
        window_seconds=WINDOW,
        suspects_only=True,
        suspects_cap=5,
    )
    for n in range(6):  # the sixth failing address does not fit
        limiter.fail(f"192.0.2.{n}", now=NOW)
    assert len(limiter._suspects._seen) == 5
    for _ in range(2):
        limiter.fail("192.0.2.5", now=NOW + 1)
    with counting() as store:
        assert not limiter.check("192.0.2.5", now=NOW + 2).allowed  # not in the set, still held
        assert limiter.check("192.0.2.200", now=NOW + 2).allowed
        assert store.gets == 2
        assert limiter.check("192.0.2.200", now=NOW + WINDOW).allowed  # a new window
        assert store.gets == 2


def test_without_suspects_only_every_check_asks_the_store() -> None:
    limiter = FailureLimiter(f"test-{secrets.token_hex(4)}", limit=3, window_seconds=WINDOW)
    with counting() as store:
        for i in range(4):
            limiter.check("203.0.113.40", now=NOW + i)
    assert store.gets == 4


def test_forget_drops_counters_and_suspects(limiter: FailureLimiter) -> None:
    ratelimit.store.failed(ConnectionError("down"))  # count in this process only
    try:
        for i in range(3):
            limiter.fail("203.0.113.50", now=NOW + i)
        assert not limiter.check("203.0.113.50", now=NOW + 3).allowed
        limiter.forget()
        assert limiter.check("203.0.113.50", now=NOW + 4).allowed
        assert limiter._suspects.innocent("203.0.113.50", int(NOW // WINDOW))
    finally:
        ratelimit.store.reset()
