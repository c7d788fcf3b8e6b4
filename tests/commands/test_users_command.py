"""``manage.py users create``: passwords only from stdin, memberships, audit and errors."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, Membership, User
from audit.models import AuditRecord

PASSPHRASE = "quiet lantern over snow"


def run(*args: str, stdin: str | None = None, stderr: io.StringIO | None = None) -> str:
    out = io.StringIO()
    call_command(
        "users",
        "create",
        *args,
        stdout=out,
        stderr=stderr or io.StringIO(),
        stdin=io.StringIO(stdin or ""),
    )
    return out.getvalue()


def run_json(*args: str, stdin: str | None = None) -> Any:
    return json.loads(run(*args, "--json", stdin=stdin))


def dana(account: Account, role: str = "Administrator", *extra: str) -> tuple[str, ...]:
    return (
        "--email",
        "Dana@Example.test",
        "--name",
        "Dana Doe",
        "--account",
        account.public_id,
        "--role",
        role,
        *extra,
    )


def refused(*args: str, stdin: str | None = None) -> str:
    with pytest.raises(CommandError) as caught:
        run(*args, stdin=stdin)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_it_creates_a_user_with_the_password_from_stdin(acme):
    data = run_json(*dana(acme, "Administrator", "--password-stdin"), stdin=PASSPHRASE + "\n")
    user = User.objects.get(public_id=data["id"])
    assert (user.email, user.name) == ("dana@example.test", "Dana Doe")
    assert user.check_password(PASSPHRASE)
    assert data["created"] is True
    assert data["usablePassword"] is True
    assert Membership.objects.get(user=user).role == "Administrator"
    entry = AuditRecord.objects.get(event_key="platform.accounts.user.membership_changed")
    assert (entry.object_id, entry.actor_type, entry.account_id) == (
        user.public_id,
        "System",
        acme.public_id,
    )
    everything = json.dumps(list(AuditRecord.objects.values()), default=str) + json.dumps(data)
    assert PASSPHRASE not in everything


def test_it_gives_a_user_without_password_stdin_an_unusable_password(acme):
    out = run(*dana(acme, "Member"))
    user = User.objects.get(email="dana@example.test")
    assert not user.has_usable_password()
    assert f"Created user {user.public_id} dana@example.test: Member of {acme.public_id}" in out
    assert "cannot sign in yet" in out


def test_it_adds_a_membership_to_an_existing_user_and_keeps_the_password(acme, globex):
    run(*dana(acme, "Administrator", "--password-stdin"), stdin=PASSPHRASE)
    stderr = io.StringIO()
    out = run(
        *dana(globex, "Member", "--password-stdin"), stdin="another passphrase", stderr=stderr
    )
    user = User.objects.get(email="dana@example.test")
    assert "Updated membership of" in out
    assert "password left unchanged" in stderr.getvalue()
    assert user.check_password(PASSPHRASE)
    assert set(Membership.objects.filter(user=user).values_list("account__name", "role")) == {
        ("Acme", "Administrator"),
        ("Globex", "Member"),
    }
    assert AuditRecord.objects.filter(object_id=user.public_id).count() == 2


def test_it_changes_the_role_of_an_existing_membership(acme):
    run(*dana(acme, "Member"))
    assert run_json(*dana(acme, "Administrator"))["created"] is False
    assert Membership.objects.get(user__email="dana@example.test").role == "Administrator"


def test_it_refuses_an_unknown_role(acme):
    assert "invalid choice: 'Owner'" in refused(*dana(acme, "Owner"))
    assert not User.objects.exists()


def test_it_refuses_an_unknown_account(db):
    message = refused(
        "--email", "x@example.test", "--name", "X", "--account", "ACC-0000-0000", "--role", "Member"
    )
    assert message == "Account ACC-0000-0000 was not found."


def test_it_refuses_a_bad_email(acme):
    message = refused(
        "--email", "not-an-email", "--name", "X", "--account", acme.public_id, "--role", "Member"
    )
    assert message == "email: Enter a valid email address."


def test_it_refuses_a_weak_password(acme):
    assert refused(*dana(acme, "Member", "--password-stdin"), stdin="short\n").startswith(
        "password: "
    )
    assert not User.objects.exists()


def test_it_refuses_an_empty_password_on_stdin(acme):
    assert "no password on standard input" in refused(
        *dana(acme, "Member", "--password-stdin"), stdin=""
    )
    assert not User.objects.exists()


def test_it_takes_no_password_in_argv(acme):
    assert "unrecognized arguments" in refused(*dana(acme, "Member", "--password", PASSPHRASE))
    assert not User.objects.exists()
