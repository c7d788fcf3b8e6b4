from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, Membership, User
from apitokens.models import ApiToken, TokenStatus
from apitokens.secrets import parse_value
from audit.chain import chains, verify_chain
from audit.models import AuditRecord


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_it_seeds_once_and_prints_credentials_and_a_working_value(db):
    first = json.loads(run("--json"))
    assert first["created"] is True
    assert {a["type"] for a in first["accounts"]} == {"Client", "Vendor", "Operations"}
    assert {"client.admin@demo.test", "vendor.admin@demo.test", "ops.admin@demo.test"} <= {
        u["email"] for u in first["users"]
    }
    admin = User.objects.get(email="client.admin@demo.test")
    assert admin.check_password(first["password"])
    assert Membership.objects.get(user=admin).role == "Administrator"
    parsed = parse_value(first["token"])
    assert parsed is not None
    assert ApiToken.objects.get(public_id=parsed.token_id).status == TokenStatus.ACTIVE
    statuses = set(ApiToken.objects.values_list("status", flat=True))
    assert statuses == {"Active", "Disabled", "Deleted"}
    counts = (Account.objects.count(), User.objects.count(), ApiToken.objects.count())
    second = json.loads(run("--json"))
    assert second["created"] is False
    assert (Account.objects.count(), User.objects.count(), ApiToken.objects.count()) == counts
    assert AuditRecord.objects.filter(event_key__endswith="status_changed").exists()
    assert all(verify_chain(chain).first_break is None for chain in chains())


def test_it_prints_a_readable_banner(db):
    text = run("--url", "https://localhost:9443")
    assert "https://localhost:9443/signin/" in text
    assert "client.admin@demo.test" in text
    assert "idt:TKN-" in text


def test_it_refuses_production_without_force(db, settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        run()
    assert not Account.objects.exists()
