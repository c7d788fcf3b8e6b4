"""``manage.py accounts``: state, audit record and output of every action, and its errors."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, AccountModule
from audit.models import AuditRecord
from tests.factories import TokenFactory


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("accounts", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json"))


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        run(*args)
    message = str(caught.value)
    assert "\n" not in message
    return message


def enabled(account: Account) -> set[str]:
    return set(
        AccountModule.objects.filter(account=account).values_list("module__public_id", flat=True)
    )


def test_it_creates_an_account_and_prints_only_its_id(db):
    out = run("create", "--name", "Initech", "--type", "Vendor")
    account = Account.objects.get()
    assert out.strip() == account.public_id
    assert (account.name, account.type, account.status) == ("Initech", "Vendor", "Active")
    entry = AuditRecord.objects.get(event_key="platform.accounts.account.created")
    assert (entry.object_id, entry.actor_type, entry.account_id) == (
        account.public_id,
        "System",
        account.public_id,
    )


def test_it_creates_an_account_with_json_output(db):
    data = run_json("create", "--name", "Hooli", "--type", "Operations")
    account = Account.objects.get(public_id=data["id"])
    assert data["name"] == account.name == "Hooli"
    assert data["type"] == "Operations"
    assert data["createdAt"].endswith("Z")


def test_it_refuses_an_unknown_type(db):
    assert "invalid choice: 'Partner'" in refused("create", "--name", "X", "--type", "Partner")
    assert not Account.objects.exists()


def test_it_refuses_a_blank_name(db):
    assert refused("create", "--name", "   ", "--type", "Client").startswith("name: ")
    assert not Account.objects.exists()


def test_it_lists_accounts(acme, globex):
    text = run("list")
    assert f"{acme.public_id}  Client" in text
    assert globex.public_id in text
    assert [a["name"] for a in run_json("list")] == ["Acme", "Globex"]


def test_it_says_when_there_are_no_accounts(db):
    assert run("list").strip() == "No accounts."
    assert run_json("list") == []


def test_it_shows_an_account_with_its_enabled_modules(acme):
    data = run_json("show", acme.public_id)
    assert data["id"] == acme.public_id
    assert {m["id"] for m in data["modules"]} == enabled(acme)
    assert "MOD-1425  Marketplace" in run("show", acme.public_id)


def test_it_refuses_an_unknown_account(db):
    assert refused("show", "ACC-0000-0000") == "Account ACC-0000-0000 was not found."
    assert "ACC-0000-0000 was not found" in refused("modules", "ACC-0000-0000")


def test_it_shows_modules_and_changes_nothing_without_flags(acme):
    before = AuditRecord.objects.count()
    data = run_json("modules", acme.public_id)
    assert {m["id"] for m in data["modules"]} == enabled(acme)
    assert (data["enabled"], data["removed"]) == ([], [])
    assert AuditRecord.objects.count() == before


def test_it_enables_modules_applicable_to_the_account(db):
    account = Account(name="Fresh", type="Vendor").insert()
    data = run_json("modules", account.public_id, "--enable", "MOD-8352", "MOD-1239")
    assert data["enabled"] == ["MOD-8352", "MOD-1239"]
    assert enabled(account) == {"MOD-8352", "MOD-1239"}
    records = AuditRecord.objects.filter(event_key="platform.accounts.account.module_enabled")
    assert records.count() == 2
    assert {r.actor_type for r in records} == {"System"}
    again = run("modules", account.public_id, "--enable", "MOD-8352")
    assert "Nothing changed." in again
    assert records.count() == 2


def test_it_refuses_a_module_not_offered_to_the_account_type(acme):
    message = refused("modules", acme.public_id, "--enable", "MOD-8352")
    assert message == "Module MOD-8352 (Catalog Management) is not available to Client accounts."
    assert "MOD-8352" not in enabled(acme)


def test_it_refuses_an_unknown_module(acme):
    assert refused("modules", acme.public_id, "--remove", "MOD-0000") == (
        "Unknown module: MOD-0000."
    )


def test_it_refuses_a_module_both_enabled_and_removed(acme):
    before = enabled(acme)
    message = refused("modules", acme.public_id, "--enable", "MOD-4525", "--remove", "MOD-4525")
    assert "both --enable and --remove: MOD-4525" in message
    assert enabled(acme) == before


def test_it_removes_a_module_from_the_account_and_its_tokens(acme):
    holder = TokenFactory(account=acme, modules=["MOD-4525", "MOD-1756"])
    other = TokenFactory(account=acme, modules=["MOD-1756"])
    data = run_json("modules", acme.public_id, "--remove", "MOD-4525")
    assert data["removed"] == ["MOD-4525"]
    assert "MOD-4525" not in {m["id"] for m in data["modules"]}
    assert [m.public_id for m in holder.modules.all()] == ["MOD-1756"]
    assert [m.public_id for m in other.modules.all()] == ["MOD-1756"]
    token_records = AuditRecord.objects.filter(
        event_key="platform.accounts.api_token.updated", actor_type="System"
    )
    assert [r.object_id for r in token_records] == [holder.public_id]
    assert AuditRecord.objects.filter(
        event_key="platform.accounts.account.module_removed", object_id=acme.public_id
    ).exists()
    both = run("modules", acme.public_id, "--enable", "MOD-4525", "--remove", "MOD-0478")
    assert "Enabled MOD-4525 (Billing)\nRemoved MOD-0478 (Helpdesk)" in both


def test_it_has_help_for_every_action(db):
    for action in ("create", "list", "show", "modules", "policy"):
        out = io.StringIO()
        with pytest.raises(SystemExit) as exited:
            call_command("accounts", action, "--help", stdout=out)
        assert exited.value.code == 0


# --- policy (issue 16) ---------------------------------------------------------------------


def _expiring_in(token, days: float) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from apitokens.models import ApiToken

    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(days=days))


def test_policy_shows_no_limits_by_default(acme):
    out = run("policy", acme.public_id)
    assert "Maximum lifetime: none" in out
    assert "Expiry required: no" in out
    assert run_json("policy", acme.public_id)["exceeding"] == []
    assert not AuditRecord.objects.filter(event_key__endswith="api_token_policy.updated").exists()


def test_tightening_lists_the_tokens_outside_and_shortens_nothing(acme):
    from apitokens.models import ApiToken

    far = TokenFactory(account=acme, name="Far")
    near = TokenFactory(account=acme, name="Near")
    _expiring_in(far, 100)
    _expiring_in(near, 5)
    data = run_json("policy", acme.public_id, "--max-lifetime-days", "30")
    assert data["maxLifetimeDays"] == 30
    assert [t["id"] for t in data["exceeding"]] == [far.public_id]
    assert data["shortened"] == []
    assert ApiToken.objects.get(pk=far.pk).expires_at > ApiToken.objects.get(pk=near.pk).expires_at
    record = AuditRecord.objects.get(event_key="platform.accounts.api_token_policy.updated")
    assert "Maximum lifetime: none → 30 days" in record.details
    assert record.actor_type == "System"


def test_apply_shortens_each_token_past_the_maximum_with_its_own_record(acme):
    from django.utils import timezone

    from apitokens.models import ApiToken

    far = TokenFactory(account=acme, name="Far")
    forever = TokenFactory(account=acme, name="Forever")
    near = TokenFactory(account=acme, name="Near")
    _expiring_in(far, 100)
    _expiring_in(near, 5)
    out = run("policy", acme.public_id, "--max-lifetime-days", "30", "--apply")
    assert f"Shortened {far.public_id} (Far)" in out
    assert f"Shortened {forever.public_id} (Forever)" in out
    for token in (far, forever):
        moved = ApiToken.objects.get(pk=token.pk).expires_at
        assert abs((moved - timezone.now()).total_seconds() - 30 * 86400) < 60
        record = AuditRecord.objects.filter(
            object_id=token.public_id, event_key="platform.accounts.api_token.updated"
        ).get()
        assert "Expires:" in record.details
    assert not AuditRecord.objects.filter(
        object_id=near.public_id, event_key="platform.accounts.api_token.updated"
    ).exists()
    # Applied again: nothing is outside any more, nothing changes.
    again = run_json("policy", acme.public_id, "--apply")
    assert again["shortened"] == []
    assert again["exceeding"] == []


def test_require_expiry_alone_lists_tokens_without_one_and_apply_cannot_choose(acme):
    forever = TokenFactory(account=acme, name="Forever")
    data = run_json("policy", acme.public_id, "--require-expiry", "yes", "--apply")
    assert data["requireExpiry"] is True
    assert data["shortened"] == []
    assert [t["id"] for t in data["exceeding"]] == [forever.public_id]


@pytest.mark.parametrize(
    "args",
    [
        ("--max-lifetime-days", "0"),
        ("--max-lifetime-days", "3651"),
        ("--max-lifetime-days", "ten"),
        ("--require-expiry", "maybe"),
    ],
)
def test_policy_refuses_bad_values_and_changes_nothing(acme, args):
    from apitokens.models import TokenPolicy

    with pytest.raises(CommandError) as caught:
        run("policy", acme.public_id, *args)
    assert args[0] in str(caught.value)
    assert not TokenPolicy.objects.exists()


def test_policy_clears_the_maximum_with_none(acme):
    run("policy", acme.public_id, "--max-lifetime-days", "10")
    assert "Maximum lifetime: none" in run("policy", acme.public_id, "--max-lifetime-days", "none")
