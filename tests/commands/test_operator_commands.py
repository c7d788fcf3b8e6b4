"""accounts, users, tokens and keys commands: output, state, audit and every error path."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.models import Account, Membership, User
from apitokens import rotation, services
from apitokens.models import ApiToken, TokenStatus
from apitokens.secrets import digest, parse_value
from audit.models import AuditRecord
from tests.factories import TokenFactory


def run(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    kwargs = {"stdout": out, "stderr": io.StringIO()}
    if stdin is not None:
        kwargs["stdin"] = io.StringIO(stdin)
    call_command(*args, **kwargs)
    return out.getvalue()


def run_json(*args: str, stdin: str | None = None):
    return json.loads(run(*args, "--json", stdin=stdin))


# --- accounts --------------------------------------------------------------------------------


def test_accounts_create_list_show(db):
    created = run_json("accounts", "create", "--name", "Initech", "--type", "Vendor")
    account = Account.objects.get(public_id=created["id"])
    assert (account.name, account.type) == ("Initech", "Vendor")
    assert AuditRecord.objects.filter(
        object_id=account.public_id, event_key__endswith="account.created"
    ).exists()
    assert (
        run("accounts", "create", "--name", "Plain", "--type", "Client").strip().startswith("ACC-")
    )
    assert {a["name"] for a in run_json("accounts", "list")} >= {"Initech", "Plain"}
    assert run_json("accounts", "show", account.public_id)["type"] == "Vendor"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("accounts", "show", "ACC-0000-0000"), "ACC-0000-0000 was not found"),
        (("accounts", "create", "--name", "  ", "--type", "Client"), "name"),
        (("accounts", "modules", "ACC-0000-0000", "--enable", "MOD-1756"), "not found"),
    ],
)
def test_accounts_errors_are_one_line(db, args, message):
    with pytest.raises(CommandError) as caught:
        run(*args)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_accounts_modules_enable_and_remove_cascades(acme):
    token = TokenFactory(account=acme, modules=["MOD-4525", "MOD-1756"])
    data = run_json("accounts", "modules", acme.public_id, "--remove", "MOD-4525")
    assert data["removed"] == ["MOD-4525"]
    assert "MOD-4525" not in [m["id"] for m in data["modules"]]
    assert [m.public_id for m in token.modules.all()] == ["MOD-1756"]
    again = run_json("accounts", "modules", acme.public_id, "--enable", "MOD-4525")
    assert again["enabled"] == ["MOD-4525"]
    with pytest.raises(CommandError, match="not available to Client"):
        run("accounts", "modules", acme.public_id, "--enable", "MOD-8352")
    with pytest.raises(CommandError, match="Unknown module"):
        run("accounts", "modules", acme.public_id, "--enable", "MOD-0000")


# --- users -----------------------------------------------------------------------------------


def test_users_create_reads_the_password_from_stdin(acme, globex):
    data = run_json(
        "users",
        "create",
        "--email",
        "Dana@Example.test",
        "--name",
        "Dana",
        "--account",
        acme.public_id,
        "--role",
        "Administrator",
        "--password-stdin",
        stdin="a long enough passphrase\n",
    )
    user = User.objects.get(public_id=data["id"])
    assert user.email == "dana@example.test"
    assert user.check_password("a long enough passphrase")
    again = run_json(
        "users",
        "create",
        "--email",
        "dana@example.test",
        "--name",
        "Dana",
        "--account",
        globex.public_id,
        "--role",
        "Member",
    )
    assert again["created"] is False
    assert Membership.objects.filter(user=user).count() == 2
    assert "passphrase" not in json.dumps(list(AuditRecord.objects.values("documents", "summary")))


@pytest.mark.parametrize(
    ("extra", "stdin", "message"),
    [
        (("--email", "not-an-email"), None, "email"),
        (("--email", "x@example.test", "--password-stdin"), "short\n", "password"),
        (("--email", "x@example.test", "--password-stdin"), "", "standard input"),
    ],
)
def test_users_create_errors(acme, extra, stdin, message):
    with pytest.raises(CommandError) as caught:
        run(
            "users",
            "create",
            "--name",
            "X",
            "--account",
            acme.public_id,
            "--role",
            "Member",
            *extra,
            stdin=stdin,
        )
    assert message in str(caught.value)
    assert not User.objects.filter(email="x@example.test").exists()


# --- tokens ----------------------------------------------------------------------------------


def test_tokens_create_prints_the_value_once_and_never_again(acme):
    data = run_json(
        "tokens", "create", "--account", acme.public_id, "--name", "CLI bot", "--module", "MOD-1756"
    )
    parsed = parse_value(data["token"])
    assert parsed is not None
    token = ApiToken.objects.get(public_id=parsed.token_id)
    assert token.digest == digest(data["token"], settings.TOKEN_PEPPER)
    text = run("tokens", "create", "--account", acme.public_id, "--name", "Text bot")
    assert "shown this once" in text
    for output in (
        run("tokens", "list"),
        run("tokens", "list", "--json"),
        run("tokens", "show", token.public_id),
        run("tokens", "show", token.public_id, "--json"),
    ):
        assert data["token"] not in output
        assert data["token"].rsplit(":", 1)[1] not in output


def test_tokens_list_filters_and_lifecycle(acme, globex):
    TokenFactory(account=acme, name="A")
    TokenFactory(account=globex, name="G", disabled=True)
    assert [t["name"] for t in run_json("tokens", "list", "--account", acme.public_id)] == ["A"]
    assert [t["name"] for t in run_json("tokens", "list", "--status", "Disabled")] == ["G"]
    token = ApiToken.objects.get(name="A")
    assert run_json("tokens", "disable", token.public_id)["status"] == "Disabled"
    assert "is now Active" in run("tokens", "enable", token.public_id)
    assert run_json("tokens", "delete", token.public_id)["status"] == "Deleted"
    last = AuditRecord.objects.filter(object_id=token.public_id).order_by("-seq").first()
    assert last.actor_type == "System"
    with pytest.raises(CommandError, match="status is Deleted"):
        run("tokens", "enable", token.public_id)
    with pytest.raises(CommandError, match="TKN-0000-0000 was not found"):
        run("tokens", "show", "TKN-0000-0000")
    with pytest.raises(CommandError, match="invalid choice"):
        run("tokens", "list", "--status", "Sleeping")


def test_tokens_scan_finds_values_in_nested_files_and_disables(acme, tmp_path: Path):
    live = TokenFactory(account=acme, name="Leaked")
    already_off = TokenFactory(account=acme, disabled=True)
    nested = tmp_path / "src" / "deep"
    nested.mkdir(parents=True)
    (nested / "config.env").write_text(f"A=1\nAPI_TOKEN={live.plain_value}\n")
    # The last character changed (to one it is not: 1 value in 62 ends in "x"), so the
    # checksum fails.
    broken = live.plain_value[:-1] + ("y" if live.plain_value.endswith("x") else "x")
    (tmp_path / "notes.md").write_text(f"old: {already_off.plain_value}\nbroken: {broken}\n")
    (tmp_path / "binary.bin").write_bytes(b"\x00\xff" * 100)
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(CommandError, match="2 token value"):
        run("tokens", "scan", str(tmp_path), "--disable")
    live.refresh_from_db()
    assert live.status == TokenStatus.DISABLED
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("tokens", "scan", str(tmp_path), "--json", stdout=out)
    findings = json.loads(out.getvalue())["findings"]
    assert {(Path(f["file"]).name, f["line"]) for f in findings} == {
        ("config.env", 2),
        ("notes.md", 1),
    }
    assert live.plain_value not in out.getvalue()
    clean = tmp_path / "clean"
    clean.mkdir()
    assert "no token values found" in run("tokens", "scan", str(clean))
    with pytest.raises(CommandError, match="no such file"):
        run("tokens", "scan", str(tmp_path / "missing"))


# --- keys rotate -----------------------------------------------------------------------------


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_keys_rotate_reencrypts_everything_resumably(acme):
    tokens = [TokenFactory(account=acme) for _ in range(7)]
    rotated_keys = {"k2": base64.urlsafe_b64decode(new_key()), **settings.TOKEN_ENCRYPTION_KEYS}
    with override_settings(TOKEN_ENCRYPTION_KEYS=rotated_keys):
        assert rotation.pending_count() == 7
        partial = rotation.rotate(batch_size=2, limit=3)  # an interrupted run
        assert partial.rotated == 3
        assert rotation.pending_count() == 4
        data = run_json("keys", "rotate", "--batch-size", "2")
        assert (data["rotated"], data["failed"], data["newestKey"]) == (4, [], "k2")
        assert rotation.pending_count() == 0
        for token in tokens:
            token.refresh_from_db()
            assert token.key_id == "k2"
            assert services.decrypt_value(token) == token.plain_value
        assert run_json("keys", "rotate")["rotated"] == 0
    assert AuditRecord.objects.filter(event_key__endswith="keys_rotated").count() == 3


def test_keys_rotate_reports_values_it_cannot_decrypt(acme):
    token = TokenFactory(account=acme)
    foreign = {"k9": os.urandom(32)}
    with override_settings(TOKEN_ENCRYPTION_KEYS=foreign), pytest.raises(CommandError) as caught:
        run("keys", "rotate")
    assert token.public_id in str(caught.value)
    token.refresh_from_db()
    assert services.decrypt_value(token) == token.plain_value


def test_keys_rotate_refuses_a_bad_batch_size(db):
    with pytest.raises(CommandError, match="batch-size"):
        run("keys", "rotate", "--batch-size", "0")
