"""Emails about a token's lifetime (issue 16), sent by ``manage.py tokens notify``: 30, 7 and
1 days before it expires, when it expired, and after every rotation; to the token's creator
and its account's Administrators, one message per token, plain text and HTML.

Idempotent and safe to run on many nodes at once, every minute: each notice is a row, unique
by token, kind and the moment it is about (``TokenNotice``); a run claims a row with one
conditional UPDATE before it sends, and marks it sent only after the SMTP server accepted the
message. A run that cannot reach the server releases its claim and fails, so the notice is
sent by the next run: nothing is lost, nothing is marked sent that was not. (A crash between
the server's acceptance and the mark can send one twice: at least once, never never.)
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, mailers
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Membership, Role, User
from apitokens.lifetime import record_expiries
from apitokens.models import ApiToken, NoticeKind, NoticeState, TokenNotice, TokenStatus
from tokens_admin.api import iso

# The stages before an expiry, nearest first: only the nearest due one is sent (a token made
# with a 5-day lifetime gets the 1-day and the expired notices, not 30 and 7 at once).
STAGES: Final = (
    (NoticeKind.EXPIRES_IN_1_DAY, timedelta(days=1)),
    (NoticeKind.EXPIRES_IN_7_DAYS, timedelta(days=7)),
    (NoticeKind.EXPIRES_IN_30_DAYS, timedelta(days=30)),
)
# Rotations older than this get no notice (the first run after an upgrade does not mail about
# every rotation ever made).
ROTATION_WINDOW: Final = timedelta(days=7)
# How long a run may hold a notice before another run may take it over.
CLAIM: Final = timedelta(minutes=5)
SUBJECTS: Final = {
    NoticeKind.EXPIRES_IN_30_DAYS: "API token {name} expires in 30 days",
    NoticeKind.EXPIRES_IN_7_DAYS: "API token {name} expires in 7 days",
    NoticeKind.EXPIRES_IN_1_DAY: "API token {name} expires tomorrow",
    NoticeKind.EXPIRED: "API token {name} has expired",
    NoticeKind.ROTATED: "API token {name} was rotated",
}


@dataclass
class Outcome:
    expired_recorded: list[str] = field(default_factory=list)
    sent: list[TokenNotice] = field(default_factory=list)
    dropped: list[TokenNotice] = field(default_factory=list)
    failed: list[tuple[TokenNotice, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def one(notice: TokenNotice) -> dict[str, Any]:
            return {
                "token": notice.token.public_id,
                "kind": notice.kind,
                "about": iso(notice.about),
            }

        return {
            "expiredRecorded": self.expired_recorded,
            "sent": [{**one(n), "to": n.recipients.split(", ")} for n in self.sent],
            "dropped": [{**one(n), "why": n.note} for n in self.dropped],
            "failed": [{**one(n), "error": why} for n, why in self.failed],
        }

    def lines(self) -> list[str]:
        found = [f"Expired (recorded now): {token_id}" for token_id in self.expired_recorded]
        found += [
            f"Sent {n.kind} notice of {n.token.public_id} to {n.recipients}" for n in self.sent
        ]
        found += [f"Dropped {n.kind} notice of {n.token.public_id}: {n.note}" for n in self.dropped]
        return found or ["Nothing to send."]


def _stage(expires_at: datetime, now: datetime) -> NoticeKind | None:
    if expires_at <= now:
        return NoticeKind.EXPIRED
    for kind, before in STAGES:
        if expires_at - now <= before:
            return kind
    return None


def plan(now: datetime) -> int:
    """Create the notices due at ``now`` that do not exist yet; how many were created."""
    created = 0
    expiring = ApiToken.objects.filter(
        status=TokenStatus.ACTIVE, expires_at__lte=now + STAGES[-1][1]
    ).values_list("pk", "expires_at")
    for pk, expires_at in expiring:
        kind = _stage(expires_at, now) if expires_at is not None else None
        if expires_at is not None and kind is not None:
            created += _ensure(pk, kind, expires_at)
    rotated = ApiToken.objects.filter(rotated_at__gte=now - ROTATION_WINDOW).exclude(
        status=TokenStatus.DELETED
    )
    for pk, rotated_at in rotated.values_list("pk", "rotated_at"):
        if rotated_at is not None:
            created += _ensure(pk, NoticeKind.ROTATED, rotated_at)
    return created


def _ensure(token_pk: int, kind: str, about: datetime) -> int:
    _, made = TokenNotice.objects.get_or_create(token_id=token_pk, kind=kind, about=about)
    return int(made)


def _claim(notice: TokenNotice, now: datetime) -> bool:
    return bool(
        TokenNotice.objects.filter(pk=notice.pk, state=NoticeState.PENDING)
        .exclude(claimed_until__gt=now)
        .update(claimed_until=now + CLAIM)
    )


def _obsolete(notice: TokenNotice) -> str:
    """Why a pending notice should no longer be sent, or ``""``."""
    token = notice.token
    if token.status == TokenStatus.DELETED:
        return "the token was deleted"
    if notice.kind == NoticeKind.ROTATED:
        return "" if token.rotated_at == notice.about else "rotated again since"
    if token.expires_at != notice.about:
        return "the expiry changed"
    return ""


def recipients(token: ApiToken) -> list[str]:
    """The creator (a person still active) and the account's active Administrators."""
    admins = Membership.objects.filter(
        account_id=token.account_id, role=Role.ADMINISTRATOR, user__is_active=True
    ).values_list("user__email", flat=True)
    found = list(admins)
    if token.created_by_type == "User":
        creator = User.objects.filter(public_id=token.created_by_id, is_active=True).first()
        if creator is not None:
            found.insert(0, creator.email)
    return list(dict.fromkeys(found))


def message(notice: TokenNotice, to: list[str]) -> EmailMultiAlternatives:
    token = notice.token
    context = {
        "token": token,
        "kind": notice.kind,
        "expires": iso(token.expires_at),
        "previous_until": iso(token.previous_valid_until),
        "account": token.account,
        "link": f"{settings.APP_BASE_URL}/settings/api-tokens/{token.public_id}/",
    }
    mail = EmailMultiAlternatives(
        subject=SUBJECTS[NoticeKind(notice.kind)].format(name=token.name),
        body=render_to_string("apitokens/notice.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    mail.attach_alternative(render_to_string("apitokens/notice.html", context), "text/html")
    return mail


def _finish(notice: TokenNotice, state: str, *, note: str = "", to: Sequence[str] = ()) -> None:
    notice.state, notice.note, notice.recipients = state, note, ", ".join(to)
    notice.sent_at = timezone.now() if state == NoticeState.SENT else None
    notice.claimed_until = None
    notice.save(update_fields=["state", "note", "recipients", "sent_at", "claimed_until"])


def notify(now: datetime | None = None) -> Outcome:
    """One run: the expiry sweep, then every due notice. Stops at the first message the mail
    server refuses or cannot take (it would refuse the next ones too); what is left stays
    pending for the next run."""
    now = now or timezone.now()
    outcome = Outcome(expired_recorded=record_expiries(now))
    plan(now)
    pending = (
        TokenNotice.objects.filter(state=NoticeState.PENDING)
        .select_related("token", "token__account")
        .order_by("created_at", "pk")
    )
    # Opened by the first send: a run with nothing due connects to nothing.
    connection = mailers.default
    try:
        for notice in pending:
            if not _claim(notice, now):
                continue  # another run has it
            why = _obsolete(notice)
            to = recipients(notice.token) if not why else []
            if not why and not to:
                why = "nobody to tell: no creator or Administrator with an email"
            if why:
                _finish(notice, NoticeState.DROPPED, note=why)
                outcome.dropped.append(notice)
                continue
            try:
                connection.send_messages([message(notice, to)])
            except (OSError, smtplib.SMTPException) as exc:
                reason = _reason(exc)
                with transaction.atomic():
                    TokenNotice.objects.filter(pk=notice.pk).update(claimed_until=None, note=reason)
                outcome.failed.append((notice, reason))
                break
            _finish(notice, NoticeState.SENT, to=to)
            outcome.sent.append(notice)
    finally:
        connection.close()
    return outcome


def mail_server() -> str:
    """Where mail goes, for messages: host:port of the default mailer, or its backend."""
    options = settings.MAILERS.get("default", {}).get("OPTIONS", {})
    if "host" in options:
        return f"{options['host']}:{options.get('port', 25)}"
    return str(settings.MAILERS.get("default", {}).get("BACKEND", "the default mailer"))


def _reason(exc: Exception) -> str:
    """What went wrong, without anything the server echoed back (it could hold addresses)."""
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__}" + (f" (SMTP {code})" if code else "")
