"""Where and how much each token is used (issue 17), without a database write per request.

Every authenticated request (and every attempt refused with a known token id) is *noted* in a
buffer: in Redis when ``REDIS_URL`` is set (one pipelined round trip, shared by every server),
else in this process's memory. The buffer is *flushed* into ``TokenDailyUsage``,
``TokenAddress`` by the process that wins the once-a-minute write of ``lastAccessAt`` (and of
the last address and User-Agent) (``apitokens.middleware``), so with Redis a token costs
at most one flush a minute whatever the number of servers; without Redis each process flushes
its own buffer a minute after it noted something (``flush_due``, after any response) and when
it exits. ``flush_all`` empties the buffer at once. Losing a server loses at most its unflushed minute
of counts, never a record: the first use from a new address writes its ``TokenAddress`` row
and its ``used_from_new_ip`` record at once, in their own transaction.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final, Protocol, cast

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from apitokens.describe import actor_for_token, token_ref
from apitokens.models import ApiToken, TokenAddress, TokenDailyUsage
from audit.recorder import record
from audit.types import RequestContext
from tokens_admin.requests import request_context

logger = logging.getLogger(__name__)

EVENT_NEW_IP: Final = "platform.accounts.api_token.used_from_new_ip"
DAYS: Final = 30
RECENT: Final = 10
FLUSH_INTERVAL: Final = 60.0  # seconds, as LAST_ACCESS_INTERVAL
AGENT_MAX: Final = 500
_PREFIX: Final = "tokens-admin:usage:"


@dataclass
class Pending:
    """What a buffer holds for one token since its last flush."""

    requests: Counter[date] = field(default_factory=Counter)
    refused: Counter[date] = field(default_factory=Counter)
    seen: dict[str, datetime] = field(default_factory=dict)  # address -> last seen
    last_ip: str = ""
    last_agent: str = ""
    last_at: datetime | None = None
    since: float = field(default_factory=time.monotonic)

    def note(self, ip: str, agent: str, now: datetime, *, refused: bool) -> None:
        day = now.astimezone(UTC).date()
        if refused:
            self.refused[day] += 1
            return
        self.requests[day] += 1
        if ip:
            self.seen[ip] = max(self.seen.get(ip, now), now)
            if self.last_at is None or now >= self.last_at:
                self.last_ip, self.last_agent, self.last_at = ip, agent, now


class Buffer(Protocol):
    def note(self, token_pk: int, ip: str, agent: str, now: datetime, *, refused: bool) -> None:
        """Count one request (or one refused attempt)."""

    def take(self, token_pk: int) -> Pending | None:
        """What is pending for the token, removed from the buffer."""

    def peek(self, token_pk: int) -> Pending | None:
        """What is pending for the token, left in the buffer (for reads)."""

    def pending_tokens(self) -> list[int]: ...

    def due(self, token_pk: int) -> bool:
        """This process should flush the token even without winning the minute's write."""


class LocalBuffer:
    """This process's memory: exact for one process, per process otherwise."""

    def __init__(self) -> None:
        self._pending: dict[int, Pending] = {}
        self._lock = threading.Lock()

    def note(self, token_pk: int, ip: str, agent: str, now: datetime, *, refused: bool) -> None:
        with self._lock:
            self._pending.setdefault(token_pk, Pending()).note(ip, agent, now, refused=refused)

    def take(self, token_pk: int) -> Pending | None:
        with self._lock:
            return self._pending.pop(token_pk, None)

    def peek(self, token_pk: int) -> Pending | None:
        return self._pending.get(token_pk)

    def pending_tokens(self) -> list[int]:
        return list(self._pending)

    def due(self, token_pk: int) -> bool:
        pending = self._pending.get(token_pk)
        return pending is not None and time.monotonic() - pending.since >= FLUSH_INTERVAL


class RedisBuffer:
    """One hash per token in Redis, shared by every server; noted with one pipelined round
    trip, taken atomically (HGETALL and DEL in one MULTI)."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)

    def note(self, token_pk: int, ip: str, agent: str, now: datetime, *, refused: bool) -> None:
        key = f"{_PREFIX}{token_pk}"
        day = now.astimezone(UTC).date().isoformat()
        stamp = now.isoformat()
        try:
            pipe = self._redis.pipeline(transaction=False)
            if refused:
                pipe.hincrby(key, f"x:{day}", 1)
            else:
                pipe.hincrby(key, f"r:{day}", 1)
            if ip and not refused:
                pipe.hset(key, mapping={f"ip:{ip}": stamp, "ip": ip, "ua": agent, "at": stamp})
            pipe.expire(key, timedelta(days=DAYS))
            pipe.execute()
        except self._errors as exc:
            logger.warning("usage not counted, Redis unavailable: %s", type(exc).__name__)

    def _read(self, fields: dict[bytes, bytes]) -> Pending | None:
        if not fields:
            return None
        pending = Pending()
        for raw_key, raw_value in fields.items():
            key, value = raw_key.decode(), raw_value.decode()
            kind, _, rest = key.partition(":")
            if kind == "r":
                pending.requests[date.fromisoformat(rest)] += int(value)
            elif kind == "x":
                pending.refused[date.fromisoformat(rest)] += int(value)
            elif kind == "ip" and rest:
                pending.seen[rest] = datetime.fromisoformat(value)
        pending.last_ip = fields.get(b"ip", b"").decode()
        pending.last_agent = fields.get(b"ua", b"").decode()
        at = fields.get(b"at")
        pending.last_at = datetime.fromisoformat(at.decode()) if at else None
        return pending

    def take(self, token_pk: int) -> Pending | None:
        key = f"{_PREFIX}{token_pk}"
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.hgetall(key)
            pipe.delete(key)
            fields, _ = pipe.execute()
        except self._errors as exc:
            logger.warning("usage not flushed, Redis unavailable: %s", type(exc).__name__)
            return None
        return self._read(fields)

    def peek(self, token_pk: int) -> Pending | None:
        try:
            fields = cast(dict[bytes, bytes], self._redis.hgetall(f"{_PREFIX}{token_pk}"))
            return self._read(fields)
        except self._errors:
            return None

    def pending_tokens(self) -> list[int]:
        try:
            keys = self._redis.scan_iter(match=f"{_PREFIX}*", count=500)
            return [int(key.decode().removeprefix(_PREFIX)) for key in keys]
        except self._errors:
            return []

    def due(self, token_pk: int) -> bool:
        return False  # shared: flushed by whoever wins the minute's lastAccessAt write


_buffer: Buffer | None = None
_known: set[tuple[int, str]] = set()  # (token, address) this process knows has a row
_KNOWN_MAX: Final = 100_000


def buffer() -> Buffer:
    global _buffer
    if _buffer is None:
        _buffer = RedisBuffer(settings.REDIS_URL) if settings.REDIS_URL else LocalBuffer()
    return _buffer


def reset() -> None:
    """Empty the buffer and forget it and the known addresses (tests; settings changed)."""
    global _buffer
    if _buffer is not None:
        for pk in _buffer.pending_tokens():
            _buffer.take(pk)
    _buffer = None
    _known.clear()


def note_use(
    token_pk: int, ip: str, agent: str, *, served: bool = True, request: HttpRequest | None = None
) -> None:
    """One authenticated request: counted in the buffer. A request the API served (below 400)
    also counts its address, and the first one from a new address gets its row and its audit
    record now; a refused one writes nothing (docs/decisions.md)."""
    now = timezone.now()
    if not served or not ip:
        buffer().note(token_pk, "", agent, now, refused=False)
        return
    buffer().note(token_pk, ip, agent, now, refused=False)
    if (token_pk, ip) not in _known:
        _first_use(token_pk, ip, now, request_context(request) if request else None)


def note_refused(token_pk: int, ip: str) -> None:
    buffer().note(token_pk, ip, "", timezone.now(), refused=True)


def _first_use(token_pk: int, ip: str, now: datetime, request: RequestContext | None) -> None:
    if len(_known) >= _KNOWN_MAX:
        _known.clear()
    try:
        with transaction.atomic():
            TokenAddress.objects.create(token_id=token_pk, ip=ip, first_seen=now, last_seen=now)
            token = ApiToken.objects.select_related("account").get(pk=token_pk)
            record(
                event=EVENT_NEW_IP,
                obj=token_ref(token),
                actor=actor_for_token(token),
                account_id=token.account.public_id,
                summary=f"API token {token.name} ({token.public_id}) used from {ip} for the "
                "first time",
                details=f"API token {token.name} ({token.public_id}) made a request from {ip}, "
                "an address it was never used from before.",
                documents={"ip": ip},
                request=request,
            )
    except IntegrityError:
        pass  # known already (another process, or before this one started)
    except DatabaseError as exc:
        logger.error("could not record a new address: %s", type(exc).__name__)
        return
    _known.add((token_pk, ip))


def flush(token_pk: int) -> bool:
    """Write what the buffer holds for the token; True when there was something."""
    pending = buffer().take(token_pk)
    if pending is None:
        return False
    try:
        _apply(token_pk, pending)
    except DatabaseError as exc:
        logger.error("usage of token %s lost: %s", token_pk, type(exc).__name__)
    return True


_next_sweep = 0.0


def flush_due() -> int:
    """Flush what waited a minute in this process's buffer (any token): called after every
    API response, it costs a clock read until something is due. (With Redis nothing is ever
    due here: the minute's winner flushes the shared buffer.)"""
    global _next_sweep
    now = time.monotonic()
    if now < _next_sweep:
        return 0
    _next_sweep = now + FLUSH_INTERVAL / 4
    current = buffer()
    return sum(flush(pk) for pk in current.pending_tokens() if current.due(pk))


def _flush_at_exit() -> None:
    """A worker that stops (a restart, a deploy) writes what it holds."""
    if isinstance(_buffer, LocalBuffer):
        try:
            flush_all()
        except Exception:
            logger.warning("usage not flushed at exit")


atexit.register(_flush_at_exit)


def flush_all() -> int:
    """Flush every token the buffer holds; how many."""
    return sum(flush(pk) for pk in buffer().pending_tokens())


def _add(token_pk: int, day: date, *, requests: int = 0, refused: int = 0) -> None:
    change = {"requests": F("requests") + requests, "refused": F("refused") + refused}
    rows = TokenDailyUsage.objects.filter(token_id=token_pk, day=day)
    if rows.update(**change, flushes=F("flushes") + 1):
        return
    try:
        with transaction.atomic():
            TokenDailyUsage.objects.create(
                token_id=token_pk, day=day, requests=requests, refused=refused, flushes=1
            )
    except IntegrityError:
        rows.update(**change, flushes=F("flushes") + 1)


def _apply(token_pk: int, pending: Pending) -> None:
    """One statement at a time, each its own transaction: the flush runs after a response,
    and holding one table's lock while asking for another's could deadlock with anything
    that locks several (a TRUNCATE, a migration). A flush cut short loses a minute's counts
    at most; the records are not written here."""
    if not ApiToken.objects.filter(pk=token_pk).exists():
        return  # deleted for good since (devtools, tests): nothing to count against
    for day in set(pending.requests) | set(pending.refused):
        _add(token_pk, day, requests=pending.requests[day], refused=pending.refused[day])
    for ip, seen in pending.seen.items():
        addresses = TokenAddress.objects.filter(token_id=token_pk, ip=ip)
        if addresses.filter(last_seen__lt=seen).update(last_seen=seen) or addresses.exists():
            continue
        try:  # (its first use wrote none: the database was away then)
            with transaction.atomic():
                TokenAddress.objects.create(
                    token_id=token_pk, ip=ip, first_seen=seen, last_seen=seen
                )
        except IntegrityError:
            addresses.filter(last_seen__lt=seen).update(last_seen=seen)
    oldest = timezone.now().date() - timedelta(days=DAYS * 2)
    TokenDailyUsage.objects.filter(token_id=token_pk, day__lt=oldest).delete()


@dataclass(frozen=True, slots=True)
class Usage:
    """A token's usage as people and clients read it."""

    last_ip: str
    last_agent: str
    recent: list[tuple[str, datetime, datetime]]  # address, first seen, last seen
    daily: list[tuple[date, int, int]]  # day, requests, refused; oldest first


def usage_of(tokens: list[ApiToken], *, today: date | None = None) -> dict[int, Usage]:
    """The usage of each token, by pk, in two queries: what is flushed, plus what the buffer
    still holds (all of it with Redis; this process's otherwise)."""
    today = today or timezone.now().astimezone(UTC).date()
    first = today - timedelta(days=DAYS - 1)
    pks = [token.pk for token in tokens]
    requests: dict[int, Counter[date]] = {pk: Counter() for pk in pks}
    refused: dict[int, Counter[date]] = {pk: Counter() for pk in pks}
    for row in TokenDailyUsage.objects.filter(token_id__in=pks, day__gte=first):
        requests[row.token_id][row.day] += row.requests
        refused[row.token_id][row.day] += row.refused
    seen: dict[int, dict[str, tuple[datetime, datetime]]] = {pk: {} for pk in pks}
    for address in TokenAddress.objects.filter(token_id__in=pks).order_by("-last_seen"):
        seen[address.token_id].setdefault(address.ip, (address.first_seen, address.last_seen))
    found: dict[int, Usage] = {}
    for token in tokens:
        last = (token.last_access_ip, token.last_access_user_agent)
        pending = buffer().peek(token.pk)
        if pending is not None:
            requests[token.pk].update(pending.requests)
            refused[token.pk].update(pending.refused)
            for ip, when in pending.seen.items():
                first_seen, last_seen = seen[token.pk].get(ip, (when, when))
                seen[token.pk][ip] = (first_seen, max(last_seen, when))
            if pending.last_at is not None:
                last = (pending.last_ip, pending.last_agent)
        recent = sorted(seen[token.pk].items(), key=lambda item: item[1][1], reverse=True)
        found[token.pk] = Usage(
            last_ip=last[0],
            last_agent=last[1],
            recent=[(ip, first_seen, last_seen) for ip, (first_seen, last_seen) in recent[:RECENT]],
            daily=[
                (day, requests[token.pk][day], refused[token.pk][day])
                for day in (first + timedelta(days=n) for n in range(DAYS))
            ],
        )
    return found
