"""The tamper-evident hash chain: one chain per account, each record hashing its predecessor."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from audit.models import AuditChain, AuditRecord

GENESIS = "0" * 64
PLATFORM_CHAIN = "platform"

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


def record_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the hashed fields (timestamps as ISO-8601, microseconds)."""
    canonical = {
        name: (
            fields[name].isoformat(timespec="microseconds") if name == "timestamp" else fields[name]
        )
        for name in HASHED_FIELDS
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def hash_of(record: AuditRecord) -> str:
    return record_hash({name: getattr(record, name) for name in HASHED_FIELDS})


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
    expected_seq = 1
    count = 0
    last_id: str | None = None
    rows: Iterator[AuditRecord] = (
        AuditRecord.objects.filter(chain=chain).order_by("seq").iterator(chunk_size=2000)
    )
    for record in rows:
        count += 1
        problem = None
        if record.seq != expected_seq:
            problem = f"sequence jumps from {expected_seq - 1} to {record.seq} (records missing)"
        elif record.prev_hash != expected_prev:
            problem = "previous-hash link does not match the record before it"
        elif hash_of(record) != record.hash:
            problem = "content does not match its hash (record altered)"
        elif record.seq == head_seq and record.hash != head_hash:
            problem = "hash does not match the chain head (record replaced)"
        if problem:
            return ChainReport(
                chain, count, ChainBreak(chain, record.public_id, record.seq, problem)
            )
        expected_prev = record.hash
        expected_seq += 1
        last_id = record.public_id
    if count < head_seq:
        return ChainReport(
            chain,
            count,
            ChainBreak(
                chain,
                None,
                head_seq,
                f"chain ends at record {count} but its head says {head_seq}"
                " (records removed from the end)",
            ),
        )
    if count > head_seq:
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
            return ChainReport(
                chain,
                count,
                ChainBreak(chain, first_extra, now_seq + 1, reason + " (records added behind it)"),
            )
        if now_seq == count and now_hash != expected_prev:
            return ChainReport(
                chain,
                count,
                ChainBreak(
                    chain, last_id, count, "hash does not match the chain head (record replaced)"
                ),
            )
    return ChainReport(chain, count, None)


def chains(account_id: str | None = None) -> list[str]:
    if account_id:
        return [account_id]
    keys = set(AuditChain.objects.values_list("key", flat=True))
    keys.update(AuditRecord.objects.values_list("chain", flat=True).distinct())
    return sorted(keys)
