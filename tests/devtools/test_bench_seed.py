"""``manage.py bench_seed``: a benchmark account whose tokens authenticate like real ones and
whose audit chain verifies, with clear errors (not there in production: tests/devtools/test_app.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from accounts.models import Membership, Role
from apitokens import secrets as token_secrets
from apitokens import services
from apitokens.models import ApiToken, TokenStatus
from audit.chain import verify_chain
from audit.models import AuditRecord
from tests.live import ROOT


def seed(*args: str) -> dict:
    out = io.StringIO()
    call_command("bench_seed", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_it_builds_an_account_of_real_tokens_and_a_valid_chain() -> None:
    report = seed("--tokens", "40", "--audit-records", "230", "--batch-size", "16")
    assert (report["tokens"], report["auditRecords"]) == (40, 230)
    tokens = ApiToken.objects.filter(account__public_id=report["account"])
    assert tokens.count() == 40
    assert set(tokens.values_list("status", flat=True)) <= set(TokenStatus.values)
    assert all(token.modules.exists() for token in tokens)
    token = tokens.first()
    assert token is not None
    value = services.decrypt_value(token)
    parsed = token_secrets.parse_value(value)
    assert parsed is not None
    assert parsed.token_id == token.public_id
    assert token_secrets.digest(value, settings.TOKEN_PEPPER) == token.digest
    ids = set(tokens.values_list("public_id", flat=True))
    seeded = AuditRecord.objects.filter(account_id=report["account"], request_user_agent="seed/1.0")
    assert seeded.count() == 230
    assert {r for r in seeded.values_list("object_id", flat=True) if r.startswith("TKN-")} <= ids
    chain = verify_chain(report["account"])
    assert chain.first_break is None
    assert chain.records >= 230
    admin = Membership.objects.get(user__public_id=report["admin"])
    assert admin.role == Role.ADMINISTRATOR
    assert not admin.user.has_usable_password()


@pytest.mark.django_db
def test_it_adds_to_an_existing_account(acme) -> None:
    report = seed("--account", acme.public_id, "--tokens", "5", "--audit-records", "12")
    assert report["account"] == acme.public_id
    assert report["admin"] is None
    assert ApiToken.objects.filter(account=acme).count() == 5
    assert verify_chain(acme.public_id).first_break is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to do"),
        (["--tokens", "-1"], "--tokens must be between"),
        (["--audit-records", "-5"], "--audit-records must be between"),
        (["--tokens", "1", "--batch-size", "0"], "--batch-size must be between"),
        (["--tokens", "1", "--account", "ACC-0000-0000"], "ACC-0000-0000 was not found"),
    ],
)
def test_it_refuses_nonsense_with_one_clear_line(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("bench_seed", *args)
    assert not ApiToken.objects.exists()


def test_it_has_help() -> None:
    completed = subprocess.run(
        [sys.executable, "manage.py", "bench_seed", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--audit-records" in completed.stdout
    assert "--json" in completed.stdout
