"""``manage.py audit checkpoint`` and ``audit verify --checkpoint``: what a keyed chain alone
cannot show — records cut from the end, a chain deleted whole, a chain rewritten from its
first record — a signed checkpoint kept away from the database does; and a checkpoint file
that was tampered with is named as such."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import stat
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from audit import checkpoints, triggers
from audit.chain import b64, plain_hash, purpose_key
from audit.models import AuditChain, AuditRecord
from tests.audit.test_chain_keys import rechain, stored
from tests.audit.test_verify import tamper, verify, write


def checkpoint(*args: str) -> str:
    out = StringIO()
    call_command("audit", "checkpoint", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def chains(acme, globex) -> dict[str, list[AuditRecord]]:
    """Five records for Acme, two for Globex."""
    return {
        acme.public_id: [write(acme.public_id, f"acme change {n}") for n in range(5)],
        globex.public_id: [write(globex.public_id, f"globex change {n}") for n in range(2)],
    }


@pytest.fixture
def saved(chains, tmp_path) -> Path:
    """A checkpoint file made while the trail was intact."""
    path = tmp_path / "checkpoints.jsonl"
    checkpoint("--output", str(path))
    return path


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def line_of(path: Path, chain: str) -> tuple[int, dict[str, Any]]:
    """The (first) checkpoint of ``chain`` in ``path``, with its line number."""
    return next((n, e) for n, e in enumerate(lines_of(path), start=1) if e["chain"] == chain)


def cut_tail(chain: str, keep: int) -> None:
    """Delete every record after ``keep`` and move the head back, as an insider would."""
    last_kept = stored(chain)[keep - 1]
    tamper(f"DELETE FROM {triggers.TABLE} WHERE chain = %s AND seq > %s", [chain, keep])
    AuditChain.objects.filter(key=chain).update(last_seq=keep, last_hash=last_kept.hash)


def test_it_prints_one_signed_checkpoint_per_chain_as_json_lines(chains, acme, globex):
    output = checkpoint()

    parsed = [json.loads(line) for line in output.splitlines()]
    by_chain = {entry["chain"]: entry for entry in parsed}
    assert set(by_chain) == {acme.public_id, globex.public_id}
    acme_head = AuditChain.objects.get(key=acme.public_id)
    entry = by_chain[acme.public_id]
    assert set(entry) == set(checkpoints.FIELDS)
    assert (entry["lastSeq"], entry["lastHash"], entry["records"]) == (5, acme_head.last_hash, 5)
    assert entry["keyId"] == next(iter(settings.AUDIT_CHAIN_KEY))
    assert entry["v"] == 1
    assert entry["at"].endswith("+00:00")
    for number, line in enumerate(output.splitlines(), start=1):
        assert checkpoints.check(line, number).problem is None


def test_it_appends_to_the_output_file_readable_by_its_owner_only(chains, tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    path.write_text('{"kept": "what was there"}\n')
    path.chmod(0o600)

    first = checkpoint("--output", str(path))
    checkpoint("--output", str(path), "--account", next(iter(chains)))

    assert first.strip() == f"Appended 2 checkpoints to {path}"
    lines = path.read_text().splitlines()
    assert len(lines) == 4
    assert json.loads(lines[0]) == {"kept": "what was there"}
    fresh = tmp_path / "new.jsonl"
    checkpoint("--output", str(fresh))
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


def test_it_prints_one_json_document_with_json(chains, acme):
    document = json.loads(checkpoint("--json", "--account", acme.public_id))

    [entry] = document["checkpoints"]
    assert (entry["chain"], entry["lastSeq"]) == (acme.public_id, 5)


def test_it_refuses_to_sign_a_head_its_records_do_not_bear_out(chains, acme, tmp_path):
    AuditChain.objects.filter(key=acme.public_id).update(last_hash="0" * 64)
    path = tmp_path / "checkpoints.jsonl"

    with pytest.raises(CommandError) as caught:
        checkpoint("--output", str(path))

    assert str(caught.value) == (
        f"not signing {acme.public_id}: the head does not match record 5; nothing written"
        " (run `manage.py audit verify`)"
    )
    assert not path.exists()


def test_a_clean_trail_verifies_against_its_checkpoints_as_it_grows(saved, acme):
    write(acme.public_id, "appended after the checkpoint")

    output, error = verify("--checkpoint", str(saved))

    assert error is None, output
    assert output.splitlines()[-1] == "2 checkpoints checked, 0 broken."
    document = json.loads(verify("--checkpoint", str(saved), "--json")[0])
    assert document["ok"] is True
    assert [entry["ok"] for entry in document["checkpoints"]] == [True, True]


def test_a_tail_cut_with_the_head_moved_back_is_caught_only_by_the_checkpoint(saved, acme):
    cut_tail(acme.public_id, keep=3)

    # What is left is a valid chain: verify alone cannot tell.
    output, error = verify()
    assert error is None
    assert f"{acme.public_id}: OK, 3 records" in output.splitlines()

    output, error = verify("--checkpoint", str(saved))
    assert error is not None
    number, entry = line_of(saved, acme.public_id)
    assert (
        f"checkpoint line {number} ({acme.public_id}, seq 5): BROKEN: chain ends at record 3"
        f" but had 5 at the checkpoint of {entry['at']} (records removed from the end)"
    ) in output.splitlines()
    assert output.splitlines()[-1] == "2 checkpoints checked, 1 broken."
    assert str(error).startswith("audit trail broken in 1 of 2 checkpoints; first: checkpoint")
    document = json.loads(verify("--checkpoint", str(saved), "--json")[0])
    assert document["ok"] is False
    assert [c["chain"] for c in document["checkpoints"] if not c["ok"]] == [acme.public_id]


def test_a_chain_deleted_whole_is_caught_by_the_checkpoint(saved, acme, globex):
    tamper(f"DELETE FROM {triggers.TABLE} WHERE chain = %s", [acme.public_id])
    AuditChain.objects.filter(key=acme.public_id).delete()

    output, error = verify()
    assert error is None
    assert acme.public_id not in output

    output, error = verify("--checkpoint", str(saved))
    assert error is not None
    number, entry = line_of(saved, acme.public_id)
    assert (
        f"checkpoint line {number} ({acme.public_id}, seq 5): BROKEN: no records now, 5 at the "
        f"checkpoint of {entry['at']} (chain deleted)"
    ) in output.splitlines()


def test_a_chain_rewritten_with_plain_sha256_from_its_first_record_is_caught_by_the_checkpoint(
    saved, acme
):
    # The one rewrite the key alone cannot show: every record plain, so none follows a
    # keyed one. verify says so (all unkeyed); the checkpoint proves it.
    rechain(acme.public_id, 1, plain_hash)

    output, error = verify()
    assert error is None
    assert f"{acme.public_id}: OK, 5 records, 5 of them unkeyed" in output

    output, error = verify("--checkpoint", str(saved))
    assert error is not None
    number, entry = line_of(saved, acme.public_id)
    assert (
        f"checkpoint line {number} ({acme.public_id}, seq 5): BROKEN: record 5 no longer has the "
        f"hash it had at the checkpoint of {entry['at']} (history rewritten)"
    ) in output.splitlines()


def resign(entry: dict[str, Any], key: bytes) -> dict[str, Any]:
    unsigned = {name: value for name, value in entry.items() if name != "signature"}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()
    mac = hmac.new(purpose_key(key, checkpoints.CHECKPOINT_PURPOSE), canonical, hashlib.sha256)
    return {**unsigned, "signature": b64(mac.digest())}


WRONG_KEY = secrets.token_bytes(32)
FORGERIES = {
    # An insider who cut the tail edits the checkpoint to match.
    "seq edited": lambda entry: {**entry, "lastSeq": 3, "records": 3},
    "re-signed with a key of their own": lambda entry: resign(
        {**entry, "lastSeq": 3, "records": 3}, WRONG_KEY
    ),
    "signed with an unknown key id": lambda entry: resign({**entry, "keyId": "evil"}, WRONG_KEY),
    "signature of another line": lambda entry: {**entry, "chain": "platform"},
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_tampered_checkpoint_line_is_named(saved, acme, forgery):
    number, _ = line_of(saved, acme.public_id)
    entries = lines_of(saved)
    entries[number - 1] = FORGERIES[forgery](entries[number - 1])
    saved.write_text("".join(json.dumps(entry) + "\n" for entry in entries))

    output, error = verify("--checkpoint", str(saved))

    assert error is not None
    [broken] = [line for line in output.splitlines() if "BROKEN" in line]
    assert broken.startswith(f"checkpoint line {number} (")
    if forgery == "signed with an unknown key id":
        assert broken.endswith(
            "signed with key 'evil', which AUDIT_CHAIN_KEY does not hold"
            " (forged checkpoint, or the key was removed)"
        )
    else:
        assert broken.endswith("signature does not verify (checkpoint forged or altered)")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("this is not json", "not a checkpoint (not JSON)"),
        ('{"chain": "ACC-0000-0000"}', "not a checkpoint (fields missing or of the wrong type)"),
        ("[1, 2]", "not a checkpoint (fields missing or of the wrong type)"),
    ],
)
def test_an_unreadable_checkpoint_line_is_named(saved, line, reason):
    saved.write_text(saved.read_text() + "\n" + line + "\n")

    output, error = verify("--checkpoint", str(saved))

    assert error is not None
    assert f"checkpoint line 4 (unreadable): BROKEN: {reason}" in output.splitlines()


def test_a_boolean_is_not_a_sequence_number(saved):
    entry = lines_of(saved)[0]
    line = json.dumps({**entry, "lastSeq": True})

    assert checkpoints.check(line, 1).problem == (
        "not a checkpoint (fields missing or of the wrong type)"
    )


def test_checkpoints_signed_before_a_key_rotation_still_verify(saved):
    rotated = {"k2": secrets.token_bytes(32), **settings.AUDIT_CHAIN_KEY}
    with override_settings(AUDIT_CHAIN_KEY=rotated):
        checkpoint("--output", str(saved))
        output, error = verify("--checkpoint", str(saved))

    assert error is None, output
    assert [entry["keyId"] for entry in lines_of(saved)][-1] == "k2"
    assert output.splitlines()[-1] == "4 checkpoints checked, 0 broken."


def test_verify_checks_only_the_chosen_accounts_checkpoints(saved, acme, globex):
    cut_tail(globex.public_id, keep=1)

    output, error = verify("--account", acme.public_id, "--checkpoint", str(saved))

    assert error is None, output
    assert output.splitlines()[-1] == "1 checkpoints checked, 0 broken."
    assert verify("--account", globex.public_id, "--checkpoint", str(saved))[1] is not None


def test_verify_refuses_a_missing_or_empty_checkpoint_file(db, tmp_path):
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(CommandError, match=r"^cannot read .*nowhere\.jsonl: No such file"):
        call_command("audit", "verify", "--checkpoint", str(missing), stdout=StringIO())
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(CommandError, match=r"empty\.jsonl holds no checkpoints$"):
        call_command("audit", "verify", "--checkpoint", str(empty), stdout=StringIO())
