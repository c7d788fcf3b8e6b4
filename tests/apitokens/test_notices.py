"""Expiry and rotation notices by email (issue 16), through a real SMTP server (aiosmtpd)
started by the test: each notice once per token across repeated and concurrent runs, nothing
lost while the server is down, plain text and HTML, never a value."""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core.management import CommandError, call_command
from django.db import close_old_connections, connections
from django.utils import timezone

from accounts.models import Role
from accounts.services import actor_for_user
from apitokens import notices, services, value_rotation
from apitokens.models import ApiToken, NoticeState, TokenNotice
from audit.models import AuditRecord
from audit.types import Actor
from tests.factories import AccountFactory, MembershipFactory, TokenFactory, UserFactory


class Inbox:
    """What the SMTP server accepted: one parsed message per DATA."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def subjects(self) -> list[str]:
        return sorted(str(m["Subject"]) for m in self.messages)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def smtp_at(settings: Any, port: int) -> None:
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }
    }


def smtp_port(settings: Any) -> int:
    return int(settings.MAILERS["default"]["OPTIONS"]["port"])


@pytest.fixture
def smtp(settings: Any) -> Iterator[Inbox]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    smtp_at(settings, port)
    settings.APP_BASE_URL = "https://tokens.example.test"
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def people(acme: Any) -> dict[str, Any]:
    creator = UserFactory(email="creator@acme.test", name="Cora Creator")
    MembershipFactory(user=creator, account=acme, role=Role.MEMBER)
    admin = UserFactory(email="admin@acme.test", name="Adam Admin")
    MembershipFactory(user=admin, account=acme, role=Role.ADMINISTRATOR)
    member = UserFactory(email="member@acme.test", name="Mia Member")
    MembershipFactory(user=member, account=acme, role=Role.MEMBER)
    return {"creator": creator, "admin": admin, "member": member}


def made_by(user: Any, account: Any, name: str, expires_in: timedelta | None) -> ApiToken:
    created = services.create_token(
        account=account,
        name=name,
        expires_at=timezone.now() + expires_in if expires_in else None,
        actor=actor_for_user(user, account),
    )
    return created.token


def test_each_stage_is_sent_once_to_the_creator_and_the_administrators(smtp, acme, people):
    token = made_by(people["creator"], acme, "Quarterly export", timedelta(days=20))
    now = timezone.now()
    for _ in range(3):  # run every minute: one message
        notices.notify(now)
    assert smtp.subjects() == ["API token Quarterly export expires in 30 days"]
    message = smtp.messages[0]
    assert sorted(message["To"].split(", ")) == ["admin@acme.test", "creator@acme.test"]
    for later in (timedelta(days=14), timedelta(days=19, hours=12), timedelta(days=21)):
        notices.notify(now + later)
        notices.notify(now + later)
    assert smtp.subjects() == [
        "API token Quarterly export expires in 30 days",
        "API token Quarterly export expires in 7 days",
        "API token Quarterly export expires tomorrow",
        "API token Quarterly export has expired",
    ]
    # The sweep wrote the expired record on the way.
    assert AuditRecord.objects.filter(
        object_id=token.public_id, event_key="platform.accounts.api_token.expired"
    ).exists()


def test_a_rotation_is_announced_once_with_the_grace_end(smtp, acme, people):
    token = made_by(people["creator"], acme, "Nightly sync", None)
    value_rotation.rotate_token(token=token.public_id, grace_seconds=3600, actor=Actor.system())
    notices.notify()
    notices.notify()
    assert smtp.subjects() == ["API token Nightly sync was rotated"]
    text = plain_text(smtp.messages[0])
    assert "previous value keeps working until" in text


def test_the_message_has_both_parts_the_facts_and_a_link_and_no_value(smtp, acme, people):
    token = made_by(people["creator"], acme, "Billing robot", timedelta(days=3))
    value = services.decrypt_value(ApiToken.objects.get(pk=token.pk))
    notices.notify()
    (message,) = smtp.messages
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    assert set(parts) == {"text/plain", "text/html"}
    for body in parts.values():
        assert "Billing robot" in body
        assert token.public_id in body
        assert f"https://tokens.example.test/settings/api-tokens/{token.public_id}/" in body
        assert value not in body
        assert value.rsplit(":", 1)[1] not in body
    assert "<strong>Billing robot</strong>" in parts["text/html"]


def plain_text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no text/plain part")


def test_a_token_nobody_can_be_told_about_or_deleted_gets_no_mail(smtp, acme):
    lonely = TokenFactory(account=acme, name="Lonely")  # made by System, no Administrators
    ApiToken.objects.filter(pk=lonely.pk).update(expires_at=timezone.now() + timedelta(days=2))
    outcome = notices.notify()
    assert smtp.messages == []
    assert [n.note for n in outcome.dropped] == [
        "nobody to tell: no creator or Administrator with an email"
    ]


def test_a_moved_expiry_drops_the_pending_notice_and_gets_its_own(smtp, acme, people, settings):
    token = made_by(people["creator"], acme, "Moving", timedelta(days=5))
    up = smtp_port(settings)
    smtp_at(settings, free_port())  # down: the 7-day notice stays pending
    with pytest.raises(CommandError):
        call_command("tokens", "notify")
    services.update_token(
        token=token.public_id, expires_at=timezone.now() + timedelta(days=20), actor=Actor.system()
    )
    smtp_at(settings, up)
    notices.notify()
    assert smtp.subjects() == ["API token Moving expires in 30 days"]
    states = dict(TokenNotice.objects.values_list("kind", "state"))
    assert states == {"expires-7d": NoticeState.DROPPED, "expires-30d": NoticeState.SENT}


def test_with_the_server_down_nothing_is_lost_and_the_command_fails_clearly(
    acme, people, settings, smtp
):
    made_by(people["creator"], acme, "Patient", timedelta(days=2))
    up = smtp_port(settings)
    smtp_at(settings, free_port())
    with pytest.raises(CommandError) as caught:
        call_command("tokens", "notify")
    assert caught.value.returncode == 1
    message = str(caught.value)
    assert "could not send the expires-7d notice" in message
    assert "stays pending for the next run" in message
    assert "\n" not in message
    notice = TokenNotice.objects.get()
    assert (notice.state, notice.sent_at, notice.claimed_until) == (NoticeState.PENDING, None, None)
    assert notice.note.startswith("ConnectionRefusedError")
    smtp_at(settings, up)
    call_command("tokens", "notify")
    assert smtp.subjects() == ["API token Patient expires in 7 days"]
    assert TokenNotice.objects.get().state == NoticeState.SENT


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_each_notice_once(smtp):
    account = AccountFactory(name="Busy")
    admin = UserFactory(email="admin@busy.test", name="Admin")
    MembershipFactory(user=admin, account=account, role=Role.ADMINISTRATOR)
    for index in range(8):
        made_by(admin, account, f"Robot {index}", timedelta(days=2 + index))
    start = threading.Barrier(4)

    def run(_: int) -> None:
        start.wait()
        try:
            for _ in range(3):
                notices.notify()
        finally:
            close_old_connections()
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(run, range(4)))
    assert len(smtp.messages) == 8
    assert len(set(smtp.subjects())) == 8
    assert TokenNotice.objects.filter(state=NoticeState.SENT).count() == 8


def test_notify_json_output_names_what_it_sent(smtp, acme, people):
    import io
    import json

    token = made_by(people["creator"], acme, "Reported", timedelta(days=1, hours=-1))
    out = io.StringIO()
    call_command("tokens", "notify", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["sent"] == [
        {
            "token": token.public_id,
            "kind": "expires-1d",
            "about": data["sent"][0]["about"],
            "to": ["creator@acme.test", "admin@acme.test"],
        }
    ]
    assert data["failed"] == []
