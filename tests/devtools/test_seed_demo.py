from __future__ import annotations

import io
import json

from django.conf import settings
from django.core.management import call_command

from accounts.models import Account, Membership, Module, User
from apitokens.models import ApiToken, TokenStatus
from apitokens.secrets import parse_value, verify
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


def test_it_writes_nothing_at_all_the_second_time(db):
    run()
    counts = (Account.objects.count(), ApiToken.objects.count(), AuditRecord.objects.count())
    text = run()
    assert "(created now)" not in text
    assert (Account.objects.count(), ApiToken.objects.count(), AuditRecord.objects.count()) == (
        counts
    )


def test_it_builds_the_demo_through_the_services(db):
    data = json.loads(run("--json"))
    assert {"accounts", "users", "password", "token"} <= set(data)
    by_type = {a["type"]: Account.objects.get(public_id=a["id"]) for a in data["accounts"]}
    for account in by_type.values():
        enabled = set(account.modules.values_list("public_id", flat=True))
        applicable = {m.public_id for m in Module.objects.all() if m.applies_to(account.type)}
        assert enabled == applicable
        assert account.memberships.filter(role="Administrator").count() == 1
        assert account.tokens.exists()
    client = by_type["Client"]
    member = Membership.objects.get(user__email="client.member@demo.test")
    assert (member.account, member.role) == (client, "Member")
    assert set(client.tokens.values_list("status", flat=True)) == {"Active", "Disabled", "Deleted"}
    token = ApiToken.objects.get(public_id=parse_value(data["token"]).token_id)
    assert token.account == client
    assert verify(data["token"], token.digest, settings.TOKEN_PEPPER)
    history = AuditRecord.objects.filter(actor_type="User", account_id=client.public_id)
    events = set(history.values_list("event_key", flat=True))
    assert {
        "platform.accounts.api_token.created",
        "platform.accounts.api_token.updated",
        "platform.accounts.api_token.status_changed",
    } <= events
    moves = {
        (r.documents["status"]["from"], r.documents["status"]["to"])
        for r in history.filter(event_key__endswith="status_changed")
    }
    assert {("Active", "Disabled"), ("Disabled", "Active"), ("Disabled", "Deleted")} <= moves
