"""The tamper-evident hash chain: one chain per account, each record hashing its predecessor.

A record's ``hash`` is an HMAC-SHA256 under ``settings.AUDIT_CHAIN_KEY`` (a keyring, newest key
first), stored as ``v2:<key id>:<base64url MAC>`` (at most 63 characters, so it fits the
existing 64-character columns: no migration, and the append-only triggers stay as they are).
Records written before the key existed carry a plain SHA-256 in hex (64 hex digits, never a
colon), and keep verifying. The stored hash thus names its own scheme and key, so verification
needs no other marker and an old key keeps verifying its records after a rotation. A chain may
go from plain to keyed but never back: a plain hash after a keyed one is a break, or anyone
with write access to the table could rewrite a record and re-chain it with plain SHA-256.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from audit.models import AuditChain, AuditRecord

GENESIS = "0" * 64
PLATFORM_CHAIN = "platform"
KEYED_SCHEME = "v2"
# The key id of a plain SHA-256 hash (the scheme before AUDIT_CHAIN_KEY).
PLAIN = ""
_PLAIN_RE = re.compile(r"[0-9a-f]{64}")
_KEYED_RE = re.compile(rf"{KEYED_SCHEME}:([^:]{{1,16}}):[A-Za-z0-9_-]{{43}}")
# Each use of AUDIT_CHAIN_KEY gets a key of its own, derived with a purpose label, so a record
# MAC can never pass for a checkpoint signature or the other way round.
RECORD_PURPOSE = b"tokens-admin audit record v2"

HASHED_FIELDS = (
    "public_id",
    "chain",
    "seq",
    "event_key",
    "timestamp",
    "account_id",
    "object_id",
    "object_name",
    "object_type",
    "actor_id",
    "actor_name",
    "actor_type",
    "actor_account_id",
    "actor_account_name",
    "summary",
    "details",
    "request_ip",
    "request_user_agent",
    "trace_id",
    "documents",
    "prev_hash",
)


def chain_keys() -> dict[str, bytes]:
    """``AUDIT_CHAIN_KEY``: key id -> 32-byte key, newest first."""
    keys: dict[str, bytes] = settings.AUDIT_CHAIN_KEY
    return keys


@functools.lru_cache(maxsize=64)
def purpose_key(key: bytes, purpose: bytes) -> bytes:
    return hmac.new(key, purpose, hashlib.sha256).digest()


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _canonical(fields: dict[str, Any]) -> bytes:
    """The canonical JSON of the hashed fields (timestamps as ISO-8601, microseconds)."""
    canonical = {
        name: (
            fields[name].isoformat(timespec="microseconds") if name == "timestamp" else fields[name]
        )
        for name in HASHED_FIELDS
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return encoded.encode("utf-8")


def plain_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON: the scheme of records written before AUDIT_CHAIN_KEY.

    Only verification uses it; anyone can compute it, which is why nothing writes it any more.
    """
    return hashlib.sha256(_canonical(fields)).hexdigest()


def keyed_hash(fields: dict[str, Any], key_id: str, key: bytes) -> str:
    mac = hmac.new(purpose_key(key, RECORD_PURPOSE), _canonical(fields), hashlib.sha256)
    return f"{KEYED_SCHEME}:{key_id}:{b64(mac.digest())}"


def record_hash(fields: dict[str, Any]) -> str:
    """The hash of a new record: keyed under the newest key. Every writer uses this."""
    key_id, key = next(iter(chain_keys().items()))
    return keyed_hash(fields, key_id, key)


def link(fields: dict[str, Any], head: AuditChain) -> None:
    """Make ``fields`` (a new record's columns, ``public_id`` chosen) the next record of
    ``head``'s chain: set its ``chain``, ``seq``, ``prev_hash`` and keyed ``hash``, and move
    ``head`` onto it, in memory (the writer saves the head in the record's transaction).

    The one implementation of "the next link": ``record()`` and ``append_many()`` use it.
    """
    fields["chain"] = head.key
    fields["seq"] = head.last_seq + 1
    fields["prev_hash"] = head.last_hash or GENESIS
    fields["hash"] = record_hash(fields)
    head.last_seq, head.last_hash = fields["seq"], fields["hash"]


def key_id_of(stored: str) -> str | None:
    """The key id a stored hash names: ``PLAIN`` for plain SHA-256, None for no known scheme."""
    if _PLAIN_RE.fullmatch(stored):
        return PLAIN
    keyed = _KEYED_RE.fullmatch(stored)
    return keyed.group(1) if keyed else None


def hash_of(record: AuditRecord) -> str:
    """The hash ``record`` should carry, under the scheme and key its stored hash names (a
    record without a hash yet: the newest key); "" when that key is not configured."""
    fields = {name: getattr(record, name) for name in HASHED_FIELDS}
    key_id = key_id_of(record.hash)
    if key_id == PLAIN:
        return plain_hash(fields)
    if key_id is None:
        return record_hash(fields)
    key = chain_keys().get(key_id)
    return keyed_hash(fields, key_id, key) if key is not None else ""


def same(a: str, b: str) -> bool:
    """Constant-time comparison, safe for any text a tampered row may hold."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class ChainBreak:
    chain: str
    record_id: str | None
    seq: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    chain: str
    records: int
    first_break: ChainBreak | None
    # Records hashed with plain SHA-256 (written before AUDIT_CHAIN_KEY): only a checkpoint
    # protects them against a rewrite, so verify says how many there are.
    unkeyed: int = 0


def link_problem(record: AuditRecord, *, seq: int, prev_hash: str, after_keyed: bool) -> str | None:
    """Why ``record`` is not the valid link ``seq`` after ``prev_hash``; None when it is."""
    if record.seq != seq:
        return f"sequence jumps from {seq - 1} to {record.seq} (records missing)"
    if record.prev_hash != prev_hash:
        return "previous-hash link does not match the record before it"
    key_id = key_id_of(record.hash)
    if key_id is None:
        return "hash is in no known format (record altered)"
    if key_id == PLAIN and after_keyed:
        return "plain SHA-256 hash after keyed ones (rewritten without AUDIT_CHAIN_KEY)"
    if key_id != PLAIN and key_id not in chain_keys():
        return (
            f"hashed under key {key_id!r}, which AUDIT_CHAIN_KEY does not hold"
            " (forged, or the key was removed)"
        )
    if not same(hash_of(record), record.hash):
        return "content does not match its hash (record altered)"
    return None


def verify_chain(chain: str) -> ChainReport:
    """Walk one chain in order and stop at the first broken link (streaming, constant memory).

    The head is read *before* the walk: every record up to the head's ``last_seq`` was
    committed with it, so the walk must see all of them and the record at ``last_seq`` must
    carry ``last_hash``. Records appended while the walk runs are checked like any other, and
    once the walk is over they are accepted only if the head (read again) covers them — so a
    live system does not look broken, and a record slipped in past the head still does.
    """
    head = AuditChain.objects.filter(key=chain).values_list("last_seq", "last_hash").first()
    head_seq, head_hash = head if head is not None else (0, "")
    expected_prev = GENESIS
    count = unkeyed = 0
    last_id: str | None = None
    rows: Iterator[AuditRecord] = (
        AuditRecord.objects.filter(chain=chain).order_by("seq").iterator(chunk_size=2000)
    )
    for record in rows:
        count += 1
        # Plain hashes can only be a prefix, so any earlier record that is not plain was keyed.
        problem = link_problem(
            record, seq=count, prev_hash=expected_prev, after_keyed=count - 1 > unkeyed
        )
        if problem is None and record.seq == head_seq and record.hash != head_hash:
            problem = "hash does not match the chain head (record replaced)"
        if problem:
            return ChainReport(
                chain, count, ChainBreak(chain, record.public_id, record.seq, problem), unkeyed
            )
        unkeyed += key_id_of(record.hash) == PLAIN
        expected_prev = record.hash
        last_id = record.public_id
    problem_at_end = _end_problem(chain, count, head_seq, expected_prev, last_id)
    return ChainReport(chain, count, problem_at_end, unkeyed)


def _end_problem(
    chain: str, count: int, head_seq: int, last_hash: str, last_id: str | None
) -> ChainBreak | None:
    """What is wrong between the walked records and the head, once the walk is over."""
    if count < head_seq:
        return ChainBreak(
            chain,
            None,
            head_seq,
            f"chain ends at record {count} but its head says {head_seq}"
            " (records removed from the end)",
        )
    if count == head_seq:
        return None
    # Appended during the walk (fine: the head moved with them) or inserted behind the
    # head's back (not fine).
    now = AuditChain.objects.filter(key=chain).values_list("last_seq", "last_hash").first()
    now_seq, now_hash = now if now is not None else (0, "")
    if now_seq < count:
        first_extra = (
            AuditRecord.objects.filter(chain=chain, seq=now_seq + 1)
            .values_list("public_id", flat=True)
            .first()
        )
        reason = f"chain has {count} records but its head says {now_seq}"
        return ChainBreak(chain, first_extra, now_seq + 1, reason + " (records added behind it)")
    if now_seq == count and now_hash != last_hash:
        return ChainBreak(
            chain, last_id, count, "hash does not match the chain head (record replaced)"
        )
    return None


def chains(account_id: str | None = None) -> list[str]:
    if account_id:
        return [account_id]
    keys = set(AuditChain.objects.values_list("key", flat=True))
    keys.update(AuditRecord.objects.values_list("chain", flat=True).distinct())
    return sorted(keys)
