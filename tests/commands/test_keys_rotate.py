"""``manage.py keys rotate``: every value ends under the newest key, still decrypts, and an
interrupted run leaves each row readable and is finished by the next one."""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from apitokens import rotation, services
from apitokens import secrets as token_secrets
from apitokens.models import ApiToken
from audit.models import AuditRecord
from tests.factories import TokenFactory

EVENT = "platform.accounts.api_token.keys_rotated"


NEW_KEY = "fresh1"
FRESH = os.urandom(32)  # generated for this test run, never written down


@contextmanager
def new_key() -> Iterator[str]:
    """Put a freshly generated key in front of the configured ones, as an operator would."""
    keys = {NEW_KEY: FRESH, **settings.TOKEN_ENCRYPTION_KEYS}
    with override_settings(TOKEN_ENCRYPTION_KEYS=keys):
        yield NEW_KEY


def run(*args: str, stderr: io.StringIO | None = None) -> Any:
    out = io.StringIO()
    call_command("keys", "rotate", *args, "--json", stdout=out, stderr=stderr or io.StringIO())
    return json.loads(out.getvalue())


def assert_all_readable(tokens: list[ApiToken]) -> None:
    for token in tokens:
        token.refresh_from_db()
        assert token_secrets.key_id_of(token.ciphertext) == token.key_id
        assert services.decrypt_value(token) == token.plain_value  # type: ignore[attr-defined]


def test_it_reencrypts_every_token_under_the_newest_key(acme, globex):
    tokens = [TokenFactory(account=acme) for _ in range(3)] + [
        TokenFactory(account=globex, disabled=True),
        TokenFactory(account=globex, deleted=True),
    ]
    old_ciphertexts = {t.pk: t.ciphertext for t in tokens}
    stderr = io.StringIO()
    with new_key():
        data = run("--batch-size", "2", stderr=stderr)
        assert data == {"newestKey": NEW_KEY, "pending": 5, "rotated": 5, "failed": []}
        assert stderr.getvalue() == ""  # no progress bar with --json
        assert_all_readable(tokens)
    assert {t.key_id for t in tokens} == {NEW_KEY}
    assert all(t.ciphertext != old_ciphertexts[t.pk] for t in tokens)
    entry = AuditRecord.objects.get(event_key=EVENT)
    assert (entry.chain, entry.account_id, entry.actor_type) == ("platform", "", "System")
    assert entry.documents["rotated"] == 5
    values = [t.plain_value for t in tokens]  # type: ignore[attr-defined]
    assert not any(value in json.dumps(entry.documents) for value in values)


def test_it_has_nothing_to_do_the_second_time(acme):
    TokenFactory(account=acme)
    with new_key():
        assert run()["rotated"] == 1
        assert rotation.pending_count() == 0
        assert run()["rotated"] == 0
        out = io.StringIO()
        call_command("keys", "rotate", stdout=out)
    assert f"0 of 0 value(s) re-encrypted under key {NEW_KEY}" in out.getvalue()


def test_it_resumes_after_a_partial_run(acme):
    tokens = [TokenFactory(account=acme) for _ in range(5)]
    with new_key():
        partial = rotation.rotate(batch_size=2, limit=2)  # stopped after one batch
        assert (partial.rotated, rotation.pending_count()) == (2, 3)
        assert_all_readable(tokens)
        assert run("--batch-size", "2")["rotated"] == 3
        assert rotation.pending_count() == 0
        assert_all_readable(tokens)


def test_it_leaves_every_row_readable_when_it_crashes_mid_way(
    acme, monkeypatch: pytest.MonkeyPatch
):
    tokens = [TokenFactory(account=acme) for _ in range(5)]
    real_encrypt = token_secrets.encrypt
    calls = {"n": 0}

    def crash_on_the_third(*args: Any, **kwargs: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("power cut")
        return real_encrypt(*args, **kwargs)

    with new_key():
        monkeypatch.setattr(token_secrets, "encrypt", crash_on_the_third)
        with pytest.raises(RuntimeError, match="power cut"):
            run("--batch-size", "2")
        monkeypatch.setattr(token_secrets, "encrypt", real_encrypt)
        # The first batch committed, the second rolled back whole: old key or new, never half.
        assert_all_readable(tokens)
        assert [t.key_id for t in tokens].count(NEW_KEY) == 2
        assert run("--batch-size", "2")["rotated"] == 3
        assert_all_readable(tokens)
    assert {t.key_id for t in tokens} == {NEW_KEY}


def test_it_reports_tokens_it_cannot_decrypt_and_rotates_the_others(acme):
    good = [TokenFactory(account=acme) for _ in range(2)]
    broken = TokenFactory(account=acme)
    old_kid = broken.key_id
    garbage = base64.b64encode(os.urandom(40)).decode()
    ApiToken.objects.filter(pk=broken.pk).update(ciphertext=f"{old_kid}:{garbage}")
    out = io.StringIO()
    with new_key(), pytest.raises(CommandError) as caught:
        call_command("keys", "rotate", "--json", stdout=out, stderr=io.StringIO())
    message = str(caught.value)
    assert message.startswith("1 value(s) could not be decrypted with any configured key")
    assert broken.public_id in message
    assert json.loads(out.getvalue())["failed"] == [broken.public_id]
    with new_key():
        assert_all_readable(good)
    assert {t.key_id for t in good} == {NEW_KEY}
    broken.refresh_from_db()
    assert broken.key_id == old_kid
    entry = AuditRecord.objects.get(event_key=EVENT)
    assert entry.documents["failed"] == [broken.public_id]


def test_it_refuses_a_bad_batch_size(db):
    with pytest.raises(CommandError, match="--batch-size must be between 1 and 10000"):
        call_command("keys", "rotate", "--batch-size", "0", stdout=io.StringIO())
    with pytest.raises(CommandError, match="invalid int value"):
        call_command("keys", "rotate", "--batch-size", "many", stdout=io.StringIO())
