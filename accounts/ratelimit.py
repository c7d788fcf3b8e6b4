"""Sign-in attempts: failures are counted per email and per client address in the shared store
(Redis when configured, else the database), so guessing a password is slow on every process
at once."""

from __future__ import annotations

import hashlib
from functools import cache

from django.conf import settings

from tokens_admin.ratelimit import FailureLimiter, Verdict


@cache
def _limiters() -> tuple[FailureLimiter, FailureLimiter]:
    window = settings.SIGNIN_FAILURE_WINDOW
    return (
        FailureLimiter(
            "signin-email", limit=settings.SIGNIN_FAILURE_LIMIT_EMAIL, window_seconds=window
        ),
        FailureLimiter("signin-ip", limit=settings.SIGNIN_FAILURE_LIMIT_IP, window_seconds=window),
    )


def _email_key(email: str) -> str:
    # Hashed: cache keys must not carry personal data, nor characters memcached refuses.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def check(*, email: str, ip: str) -> Verdict:
    """May this email, from this address, try now? The longer wait wins when both refuse."""
    by_email, by_ip = _limiters()
    verdicts = [by_email.check(_email_key(email)), by_ip.check(ip or "unknown")]
    refused = [v for v in verdicts if not v.allowed]
    if refused:
        return max(refused, key=lambda v: v.retry_after)
    return Verdict(allowed=True, retry_after=0)


def fail(*, email: str, ip: str) -> Verdict:
    """Count a wrong password; ``over`` when it was past a limit (the attempt raced others
    past ``check``) and is to be answered as refused. The longer wait wins."""
    by_email, by_ip = _limiters()
    verdicts = [by_email.fail(_email_key(email)), by_ip.fail(ip or "unknown")]
    over = [v for v in verdicts if v.over]
    if over:
        return max(over, key=lambda v: v.retry_after)
    return Verdict(allowed=all(v.allowed for v in verdicts), retry_after=0)


def reset_for_tests() -> None:
    _limiters.cache_clear()
