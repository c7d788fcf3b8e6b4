"""``manage.py tokens``: create prints the value once; nothing else ever does; scan finds
leaked values and disables them."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apitokens import secrets as token_secrets
from apitokens.management.commands import tokens as tokens_command
from apitokens.models import ApiToken, TokenStatus
from audit.models import AuditRecord
from tests.factories import TokenFactory


def run(*args: str, stderr: io.StringIO | None = None) -> str:
    out = io.StringIO()
    call_command("tokens", *args, stdout=out, stderr=stderr or io.StringIO())
    return out.getvalue()


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json"))


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        run(*args)
    message = str(caught.value)
    assert "\n" not in message
    return message


def secret_of(value: str) -> str:
    return value.rsplit(":", 1)[1]


# --- create ---------------------------------------------------------------------------------


def test_it_creates_a_token_and_prints_a_value_that_authenticates(acme):
    data = run_json(
        "create", "--account", acme.public_id, "--name", "CRM robot", "--module", "MOD-1756"
    )
    parsed = token_secrets.parse_value(data["token"])
    assert parsed is not None
    assert parsed.token_id == data["id"]
    token = ApiToken.objects.get(public_id=data["id"])
    assert token_secrets.verify(data["token"], token.digest, settings.TOKEN_PEPPER)
    assert (token.account, token.name, token.status) == (acme, "CRM robot", "Active")
    assert [m.public_id for m in token.modules.all()] == ["MOD-1756"]
    assert [m["id"] for m in data["modules"]] == ["MOD-1756"]
    entry = AuditRecord.objects.get(event_key="platform.accounts.api_token.created")
    assert (entry.object_id, entry.actor_type) == (token.public_id, "System")
    assert secret_of(data["token"]) not in json.dumps(entry.documents)


def test_it_says_in_text_mode_that_the_value_will_not_be_shown_again(acme):
    out = run("create", "--account", acme.public_id, "--name", "Text bot", "--description", "d")
    token = ApiToken.objects.get(name="Text bot")
    assert "will not be shown again" in out
    value = out.strip().splitlines()[-1]
    assert token_secrets.parse_value(value) is not None
    assert token_secrets.verify(value, token.digest, settings.TOKEN_PEPPER)
    assert token.description == "d"


def test_it_refuses_to_create_in_an_unknown_account(db):
    assert refused("create", "--account", "ACC-0000-0000", "--name", "X") == (
        "Account ACC-0000-0000 was not found."
    )
    assert not ApiToken.objects.exists()


def test_it_refuses_an_unknown_module(acme):
    assert refused(
        "create", "--account", acme.public_id, "--name", "X", "--module", "MOD-0000"
    ) == ("Unknown module: MOD-0000.")


def test_it_refuses_a_module_not_enabled_for_the_account(acme):
    message = refused("create", "--account", acme.public_id, "--name", "X", "--module", "MOD-8352")
    assert message == "modules: Not enabled for this account: MOD-8352."
    assert not ApiToken.objects.exists()


def test_it_refuses_a_bad_name(acme):
    assert refused("create", "--account", acme.public_id, "--name", "a<b>").startswith("name: ")


# --- list, show -----------------------------------------------------------------------------


def test_it_never_prints_a_value_in_list_or_show(acme):
    token = TokenFactory(account=acme, modules=["MOD-1756"])
    for output in (
        run("list"),
        run("list", "--json"),
        run("show", token.public_id),
        run("show", token.public_id, "--json"),
    ):
        assert token.public_id in output
        assert secret_of(token.plain_value) not in output
        assert token.digest not in output


def test_it_lists_tokens_by_account_and_status(acme, globex):
    TokenFactory(account=acme, name="Alpha")
    TokenFactory(account=acme, name="Beta", disabled=True)
    TokenFactory(account=globex, name="Gamma", deleted=True)
    assert [t["name"] for t in run_json("list", "--account", acme.public_id)] == ["Alpha", "Beta"]
    assert [t["name"] for t in run_json("list", "--status", "Deleted")] == ["Gamma"]
    text = run("list", "--account", globex.public_id)
    assert "Deleted" in text
    assert "Gamma" in text
    assert run("list", "--account", acme.public_id, "--status", "Deleted").strip() == (
        "No API tokens."
    )


def test_it_refuses_an_unknown_status(db):
    assert "invalid choice: 'Sleeping'" in refused("list", "--status", "Sleeping")


def test_it_refuses_to_list_an_unknown_account(db):
    assert refused("list", "--account", "ACC-0000-0000") == "Account ACC-0000-0000 was not found."


def test_it_shows_a_token(acme):
    token = TokenFactory(account=acme, name="Shown", modules=["MOD-1756"])
    data = run_json("show", token.public_id)
    assert (data["id"], data["name"], data["status"]) == (token.public_id, "Shown", "Active")
    assert data["account"]["id"] == acme.public_id
    assert data["audit"]["created"]["by"]["id"] == "SYSTEM"
    assert "token" not in data
    assert "MOD-1756  Access Management" in run("show", token.public_id)


def test_it_refuses_to_show_an_unknown_token(db):
    assert refused("show", "TKN-0000-0000") == "API token TKN-0000-0000 was not found."


# --- lifecycle ------------------------------------------------------------------------------


def test_it_disables_enables_and_deletes_as_system(acme):
    token = TokenFactory(account=acme)
    assert run_json("disable", token.public_id)["status"] == "Disabled"
    assert "is now Active" in run("enable", token.public_id)
    assert run_json("delete", token.public_id)["status"] == "Deleted"
    token.refresh_from_db()
    assert token.status == TokenStatus.DELETED
    assert token.updated_by_id == "SYSTEM"
    records = AuditRecord.objects.filter(
        object_id=token.public_id, event_key="platform.accounts.api_token.status_changed"
    ).order_by("seq")
    assert [(r.documents["status"]["to"], r.actor_type) for r in records] == [
        ("Disabled", "System"),
        ("Active", "System"),
        ("Deleted", "System"),
    ]


def test_it_refuses_a_transition_the_status_does_not_allow(acme):
    token = TokenFactory(account=acme)
    assert refused("enable", token.public_id) == (
        f"API token {token.public_id} cannot be enabled: its status is Active."
    )
    run("delete", token.public_id)
    assert "its status is Deleted" in refused("disable", token.public_id)


def test_it_refuses_a_transition_of_an_unknown_token(db):
    assert refused("disable", "TKN-0000-0000") == "API token TKN-0000-0000 was not found."


# --- scan -----------------------------------------------------------------------------------


def scan(*args: str, found: bool = True) -> tuple[dict[str, Any], str]:
    """Run ``tokens scan --json``; it exits 1 exactly when a value was found."""
    out, err = io.StringIO(), io.StringIO()
    if found:
        with pytest.raises(CommandError, match=r"token value\(s\) found$") as caught:
            call_command("tokens", "scan", *args, "--json", stdout=out, stderr=err)
        assert caught.value.returncode == 1
    else:
        call_command("tokens", "scan", *args, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


def test_it_finds_values_in_nested_files_and_reports_them_masked(acme, tmp_path: Path):
    live = TokenFactory(account=acme)
    off = TokenFactory(account=acme, disabled=True)
    gone = TokenFactory(account=acme, deleted=True)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "settings.py").write_text(f"# config\n\nTOKEN = '{live.plain_value}'\n")
    (tmp_path / "notes.txt").write_text(f"{off.plain_value} and {gone.plain_value}\n")
    wrong = "B" if live.plain_value.endswith("A") else "A"
    (tmp_path / "typo.txt").write_text(live.plain_value[:-1] + wrong + "\n")  # bad checksum
    data, _ = scan(str(tmp_path))
    found = {(Path(f["file"]).name, f["line"], f["tokenId"], f["status"]) for f in data["findings"]}
    assert found == {
        ("settings.py", 3, live.public_id, "Active"),
        ("notes.txt", 1, off.public_id, "Disabled"),
        ("notes.txt", 1, gone.public_id, "Deleted"),
    }
    assert data["filesScanned"] == 3
    assert data["disabled"] == []
    text = io.StringIO()
    with pytest.raises(CommandError, match="3 token value"):
        call_command("tokens", "scan", str(tmp_path), stdout=text)
    assert f"settings.py:3  {live.public_id}  Active  {token_secrets.mask(live.public_id)}" in (
        text.getvalue()
    )
    for token in (live, off, gone):
        assert secret_of(token.plain_value) not in text.getvalue() + json.dumps(data)
    live.refresh_from_db()
    assert live.status == TokenStatus.ACTIVE


def test_it_disables_active_tokens_found_with_disable(acme, tmp_path: Path):
    live = TokenFactory(account=acme)
    off = TokenFactory(account=acme, disabled=True)
    (tmp_path / "leak.env").write_text(f"A={live.plain_value}\nB={live.plain_value}\n")
    (tmp_path / "old.env").write_text(off.plain_value)
    data, _ = scan(str(tmp_path), "--disable")
    assert data["disabled"] == [live.public_id]
    assert [f["disabled"] for f in data["findings"]] == [True, True, False]
    live.refresh_from_db()
    assert live.status == TokenStatus.DISABLED
    entry = AuditRecord.objects.filter(object_id=live.public_id).order_by("-seq").first()
    assert entry is not None
    assert (entry.event_key, entry.actor_type) == (
        "platform.accounts.api_token.status_changed",
        "System",
    )
    assert entry.documents["status"] == {"from": "Active", "to": "Disabled"}
    again, _ = scan(str(tmp_path), "--disable")
    assert again["disabled"] == []


def test_it_does_not_disable_a_token_for_a_forged_value(acme, tmp_path: Path):
    token = TokenFactory(account=acme)
    forged = token_secrets.generate_value(token.public_id)  # right id, right checksum, wrong secret
    (tmp_path / "forged.txt").write_text(forged)
    data, _ = scan(str(tmp_path), "--disable")
    assert [(f["tokenId"], f["status"]) for f in data["findings"]] == [(token.public_id, "Unknown")]
    token.refresh_from_db()
    assert token.status == TokenStatus.ACTIVE


def test_it_exits_zero_when_clean(tmp_path: Path, db):
    (tmp_path / "readme.md").write_text("idt:TKN-1234-5678:not-a-value\n")
    out = run("scan", str(tmp_path))
    assert "Clean: no token values found in 1 file(s) scanned." in out


def test_it_refuses_a_path_that_cannot_be_read(tmp_path: Path, db):
    message = refused("scan", str(tmp_path / "missing"))
    assert message == f"cannot read {tmp_path / 'missing'}: no such file or directory"


def test_it_skips_binary_files_special_files_and_links_out_of_the_tree(acme, tmp_path: Path):
    token = TokenFactory(account=acme)
    outside = tmp_path / "outside"
    tree = tmp_path / "tree"
    outside.mkdir()
    tree.mkdir()
    (outside / "secret.txt").write_text(token.plain_value)
    (tree / "to-dir").symlink_to(outside)
    (tree / "to-file").symlink_to(outside / "secret.txt")
    (tree / "image.bin").write_bytes(b"\x89PNG\x00" + token.plain_value.encode())
    os.mkfifo(tree / "pipe")  # reading it would block forever
    data, err = scan(str(tree), found=False)
    assert data["findings"] == []
    assert {(Path(s["path"]).name, s["reason"]) for s in data["skipped"]} == {
        ("to-dir", "symbolic link not followed"),
        ("to-file", "symbolic link not followed"),
        ("image.bin", "binary file"),
        ("pipe", "not a regular file"),
    }
    assert "skipped" in err
    assert "image.bin: binary file" in err


@pytest.mark.parametrize("chunk", [1, 7, 80, 81, 82, 83, 100, 163, 4096])
def test_it_finds_values_across_chunk_boundaries_with_the_right_line(
    acme, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
):
    monkeypatch.setattr(tokens_command, "CHUNK", chunk)
    first = TokenFactory(account=acme)
    second = TokenFactory(account=acme)
    glued = "x" + first.plain_value  # glued to a word character: not a value on its own
    text = f"{first.plain_value}\n\n{'y' * 150} {second.plain_value}\n{glued}\n{first.plain_value}"
    (tmp_path / "long.txt").write_text(text)
    data, _ = scan(str(tmp_path))
    assert [(f["tokenId"], f["line"]) for f in data["findings"]] == [
        (first.public_id, 1),
        (second.public_id, 3),
        (first.public_id, 5),
    ]


def test_list_reads_and_filters_the_shown_status_with_expired(acme):
    import io
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from apitokens.models import ApiToken

    gone = TokenFactory(account=acme, name="Old feed")
    kept = TokenFactory(account=acme, name="Live robot")
    ApiToken.objects.filter(pk=gone.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    out = io.StringIO()
    call_command("tokens", "list", "--status", "Expired", stdout=out)
    assert f"{gone.public_id}  Expired" in out.getvalue()
    assert kept.public_id not in out.getvalue()
