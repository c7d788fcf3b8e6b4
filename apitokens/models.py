from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import Account, Module


class TokenStatus(models.TextChoices):
    ACTIVE = "Active"
    DISABLED = "Disabled"
    DELETED = "Deleted"
    # Never stored: what an Active or Disabled token past its ``expires_at`` reads as
    # (``ApiToken.shown_status``; ``selectors.with_shown_status`` in queries).
    EXPIRED = "Expired"


class ApiToken(models.Model):
    public_id = models.CharField(max_length=13, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="tokens")
    name = models.CharField(max_length=200)
    description = models.TextField(max_length=2000, blank=True)
    icon = models.CharField(max_length=255, blank=True)
    modules = models.ManyToManyField(Module, related_name="tokens", blank=True)
    status = models.CharField(
        max_length=16, choices=TokenStatus.choices, default=TokenStatus.ACTIVE
    )
    # HMAC-SHA256 of the value with the pepper; verifies in constant time and answers
    # eq(token,'…') without decrypting anything.
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # AES-GCM ciphertext of the value, prefixed with the id of the key that sealed it.
    ciphertext = models.TextField(editable=False)
    key_id = models.CharField(max_length=16, editable=False, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by_id = models.CharField(max_length=32)
    created_by_name = models.CharField(max_length=200)
    created_by_type = models.CharField(max_length=16)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by_id = models.CharField(max_length=32)
    updated_by_name = models.CharField(max_length=200)
    updated_by_type = models.CharField(max_length=16)
    last_access_at = models.DateTimeField(null=True, blank=True)
    # None: never expires. Past it the token reads Expired and authenticates no more.
    expires_at = models.DateTimeField(null=True, blank=True)
    # The ``expired`` audit record of the current ``expires_at`` is written (once: by the
    # first refused use or the sweep); a new ``expires_at`` clears it. A database default too,
    # so that a server still on the previous release (a rolling deploy) and bulk inserts that
    # name only the older columns (devtools' COPY) insert rows without it.
    expiry_recorded = models.BooleanField(default=False, db_default=False)
    # After a rotation with a grace period: the replaced value's digest, which authenticates
    # until ``previous_valid_until`` (then it is refused like any wrong secret).
    previous_digest = models.CharField(max_length=64, blank=True, default="", db_default="")
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    # When the current value was made by a rotation (None: at creation); a rotation keeps
    # the lifetime the expiry gave the value it replaces.
    rotated_at = models.DateTimeField(null=True, blank=True)
    # The pages showed the value of the last rotation to whoever made it (once: claimed with
    # a conditional UPDATE, so a reload or a second tab cannot show it again).
    rotation_shown = models.BooleanField(default=False, db_default=False)
    # Where the token may be used from (issue 17): CIDR ranges, normalised, one space apart
    # (apitokens.networks); empty: any address.
    allowed_ips = models.TextField(blank=True, default="", db_default="")
    # The last request's address and User-Agent, written with the usage buffer's flush
    # (apitokens.usage), at most once a minute like ``last_access_at``.
    last_access_ip = models.CharField(max_length=64, blank=True, default="", db_default="")
    last_access_user_agent = models.CharField(max_length=500, blank=True, default="", db_default="")

    class Meta:
        indexes = [
            models.Index(fields=["account", "status", "-created_at"], name="token_account_list"),
            # The default order of the list page and the API (newest first, ties by id): read
            # in index order, a page (or a search's first matches) costs what it shows instead
            # of sorting every token of the account (35 ms for page 100 of 10,000 on SQLite).
            models.Index(fields=["account", "-created_at", "-id"], name="token_account_created"),
            # With status, a name search is counted from the index alone (SQLite otherwise
            # counted through the created_at index, row by row: 11 ms instead of 2 at 10,000).
            models.Index(fields=["account", "name", "status"], name="token_account_name"),
            # The expiry sweep and the notices read tokens by expiry across accounts.
            models.Index(fields=["expires_at"], name="token_expires"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def is_deleted(self) -> bool:
        return self.status == TokenStatus.DELETED

    @property
    def is_expired(self) -> bool:
        return (
            self.expires_at is not None
            and self.expires_at <= timezone.now()
            and self.status != TokenStatus.DELETED
        )

    @property
    def previous_value_valid(self) -> bool:
        return self.previous_valid_until is not None and self.previous_valid_until > timezone.now()

    @property
    def shown_status(self) -> str:
        """The status people and clients see: Expired past ``expires_at`` (unless Deleted)."""
        return TokenStatus.EXPIRED if self.is_expired else self.status


class TokenPolicy(models.Model):
    """An account's rules for its tokens' lifetime (issue 16). No row: no limits."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="token_policy"
    )
    # None: no maximum; else 1-3650 days from the moment an expiry is set.
    max_lifetime_days = models.PositiveIntegerField(null=True, blank=True)
    require_expiry = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by_id = models.CharField(max_length=32, blank=True)
    updated_by_name = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"Token policy of account {self.account_id}"


class NoticeKind(models.TextChoices):
    EXPIRES_IN_30_DAYS = "expires-30d"
    EXPIRES_IN_7_DAYS = "expires-7d"
    EXPIRES_IN_1_DAY = "expires-1d"
    EXPIRED = "expired"
    ROTATED = "rotated"


class NoticeState(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    # Nothing to send any more: the expiry moved, the token was deleted, nobody to tell.
    DROPPED = "dropped"


class TokenNotice(models.Model):
    """One email about one token (``manage.py tokens notify``), sent at most once: unique by
    token, kind and the moment it is about (the expiry, or the rotation), so a new expiry gets
    notices of its own. A run claims a notice for a few minutes before it sends, so runs on
    two nodes at once do not both send it; it is marked sent only once the server took it."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=16, choices=NoticeKind.choices)
    about = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=8, choices=NoticeState.choices, default=NoticeState.PENDING)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.TextField(blank=True)
    # Why the last attempt failed, or why the notice was dropped (never a secret: an
    # exception's type and the SMTP server's reply code).
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "kind", "about"], name="notice_once"),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="notice_state")]

    def __str__(self) -> str:
        return f"{self.kind} notice of {self.token_id} ({self.about:%Y-%m-%d})"


class CreationKey(models.Model):
    """What one create with a key made: the Add wizard's nonce, so that the same wizard posted
    twice — a double click, two tabs, Back and Add — makes one token (the key is unique, and
    checked under the account's row lock), and whether the wizard's Summary showed the value
    yet (claimed with a conditional UPDATE, so two Summaries at once cannot both show it)."""

    key = models.CharField(max_length=64, unique=True)
    token = models.OneToOneField(ApiToken, on_delete=models.CASCADE, related_name="creation_key")
    value_shown = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.key} -> {self.token_id}"


class BlockedUse(models.Model):
    """A use of a token from outside its allowlist, one row per token, address and hour: the
    ``blocked_ip`` audit record is written with the row that claims it, so at most once an
    hour per address whatever the request rate or the number of servers (issue 17)."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="blocked_uses")
    ip = models.CharField(max_length=64)
    hour = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "ip", "hour"], name="blocked_use_once"),
        ]

    def __str__(self) -> str:
        return f"{self.token_id} from {self.ip} at {self.hour:%Y-%m-%d %H}:00"


class TokenAddress(models.Model):
    """An address a token was used from (issue 17). Created at the first use from it (that
    request also writes the ``used_from_new_ip`` record); ``last_seen`` follows with the
    usage buffer's flushes."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="addresses")
    ip = models.CharField(max_length=64)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "ip"], name="token_address_once")]
        indexes = [models.Index(fields=["token", "-last_seen"], name="token_address_recent")]

    def __str__(self) -> str:
        return f"{self.token_id} from {self.ip}"


class TokenDailyUsage(models.Model):
    """Requests a token made, and attempts refused with its id, per UTC day (issue 17);
    added to by the usage buffer's flushes, which are counted in ``flushes``."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="daily_usage")
    day = models.DateField()
    requests = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    flushes = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "day"], name="token_day_once")]

    def __str__(self) -> str:
        return f"{self.token_id} on {self.day}: {self.requests} requests, {self.refused} refused"
