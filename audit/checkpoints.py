"""Signed checkpoints of the chain heads, for ``manage.py audit checkpoint`` and ``verify``.

The keyed chain stops anyone without ``AUDIT_CHAIN_KEY`` from rewriting a record, but not from
cutting records off the end of a chain (and moving its head back) or deleting a chain whole:
what is left is still a valid chain. A checkpoint is a signed statement "chain X had N records,
the last one hashed H, at time T". Kept where the database's administrators cannot write (say,
appended from cron to write-once storage on another host), it lets ``audit verify --checkpoint``
prove that the records it names are still there and unchanged. It also seals the plain SHA-256
records written before the key existed: rewriting one changes every later hash.

A checkpoint is one JSON object (one line of a JSON Lines file); its ``signature`` is an
HMAC-SHA256, under a key derived from ``AUDIT_CHAIN_KEY`` for this purpose only, of the
canonical JSON (sorted keys, no spaces) of all its other fields.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db.models import Max
from django.utils import timezone

from audit.chain import b64, chain_keys, hash_of, purpose_key, same
from audit.models import AuditChain, AuditRecord

VERSION = 1
CHECKPOINT_PURPOSE = b"tokens-admin audit checkpoint v1"
FIELDS = {
    "v": int,
    "chain": str,
    "lastSeq": int,
    "lastHash": str,
    "records": int,
    "at": str,
    "keyId": str,
    "signature": str,
}


class CheckpointRefused(Exception):
    """A chain head its own records do not bear out: signing it would certify a broken chain."""


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    line: int
    chain: str | None
    seq: int | None
    at: str | None
    problem: str | None


def take(chain: str, *, now: datetime | None = None) -> dict[str, Any]:
    """A signed checkpoint of ``chain``'s head.

    Reads the record *at* the head's seq rather than the last record, so that records appended
    meanwhile (committed with a newer head) do not make a live chain look inconsistent.
    """
    head = AuditChain.objects.filter(key=chain).values_list("last_seq", "last_hash").first()
    if head is None:
        found = AuditRecord.objects.filter(chain=chain).exists()
        raise CheckpointRefused(
            f"{chain}: {'records without a chain head' if found else 'no chain'}"
        )
    seq, last_hash = head
    if seq:
        top = AuditRecord.objects.filter(chain=chain, seq=seq).first()
        if top is None or top.hash != last_hash or not same(hash_of(top), top.hash):
            raise CheckpointRefused(f"{chain}: the head does not match record {seq}")
    records = AuditRecord.objects.filter(chain=chain, seq__lte=seq).count()
    if records != seq:
        raise CheckpointRefused(f"{chain}: {records} records up to the head at seq {seq}")
    moment = (now or timezone.now()).isoformat(timespec="seconds")
    payload = {
        "v": VERSION,
        "chain": chain,
        "lastSeq": seq,
        "lastHash": last_hash,
        "records": records,
        "at": moment,
    }
    key_id = next(iter(chain_keys()))
    return {**payload, "keyId": key_id, "signature": signature({**payload, "keyId": key_id})}


def signature(unsigned: dict[str, Any]) -> str:
    """The signature of a checkpoint's fields (all but ``signature``), under its ``keyId``."""
    key = purpose_key(chain_keys()[unsigned["keyId"]], CHECKPOINT_PURPOSE)
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b64(hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).digest())


def to_line(checkpoint: dict[str, Any]) -> str:
    return json.dumps(checkpoint, sort_keys=True, ensure_ascii=False) + "\n"


def check_file(path: Path, *, chain: str | None = None) -> Iterator[CheckpointResult]:
    """Check every checkpoint in a JSON Lines file (or only ``chain``'s), streaming."""
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            result = check(text, number)
            if chain is None or result.chain in (None, chain):
                yield result


def check(text: str, number: int) -> CheckpointResult:
    """One checkpoint line: well formed, signed with a key we hold, and still true."""
    try:
        data = json.loads(text)
    except ValueError:
        return CheckpointResult(number, None, None, None, "not a checkpoint (not JSON)")
    if not _well_formed(data):
        malformed = "not a checkpoint (fields missing or of the wrong type)"
        return CheckpointResult(number, None, None, None, malformed)
    problem = _signature_problem(data) or _chain_problem(data)
    return CheckpointResult(number, data["chain"], data["lastSeq"], data["at"], problem)


def _well_formed(data: Any) -> bool:
    if not isinstance(data, dict) or set(data) != set(FIELDS):
        return False
    # bool is an int in Python; a checkpoint's numbers never are.
    typed = all(
        isinstance(data[name], kind) and not isinstance(data[name], bool)
        for name, kind in FIELDS.items()
    )
    return typed and data["v"] == VERSION and data["lastSeq"] >= 0


def _signature_problem(data: dict[str, Any]) -> str | None:
    key_id = data["keyId"]
    if key_id not in chain_keys():
        return (
            f"signed with key {key_id!r}, which AUDIT_CHAIN_KEY does not hold"
            " (forged checkpoint, or the key was removed)"
        )
    unsigned = {name: value for name, value in data.items() if name != "signature"}
    if not same(signature(unsigned), data["signature"]):
        return "signature does not verify (checkpoint forged or altered)"
    return None


def _chain_problem(data: dict[str, Any]) -> str | None:
    """What the records say now against what the checkpoint saw."""
    chain, seq, when = data["chain"], data["lastSeq"], data["at"]
    if seq == 0:
        return None
    stored = AuditRecord.objects.filter(chain=chain, seq=seq).values_list("hash", flat=True).first()
    if stored is None:
        top = AuditRecord.objects.filter(chain=chain).aggregate(top=Max("seq"))["top"]
        if top is None:
            return f"no records now, {seq} at the checkpoint of {when} (chain deleted)"
        if top < seq:
            return (
                f"chain ends at record {top} but had {seq} at the checkpoint of {when}"
                " (records removed from the end)"
            )
        return f"record {seq}, the head at the checkpoint of {when}, is missing (records removed)"
    if not same(stored, data["lastHash"]):
        return (
            f"record {seq} no longer has the hash it had at the checkpoint of {when}"
            " (history rewritten)"
        )
    return None
