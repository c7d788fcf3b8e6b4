from __future__ import annotations

from django.db import models


class EventType(models.Model):
    """Created automatically the first time a key is recorded; name and description editable."""

    public_id = models.CharField(max_length=13, unique=True, editable=False)
    key = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(max_length=2000, blank=True)
    # The account that first recorded an ``extensions.*`` key owns it; "" for the platform's
    # own types (see audit/services.py).
    owner_account_id = models.CharField(max_length=13, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class AuditChain(models.Model):
    """The head of one account's hash chain. Locking this row serialises appends to a chain."""

    key = models.CharField(max_length=32, unique=True)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")

    def __str__(self) -> str:
        return f"{self.key}@{self.last_seq}"


class AuditRecord(models.Model):
    """Append-only: the database refuses UPDATE and DELETE on this table (see migrations)."""

    public_id = models.CharField(max_length=23, unique=True, editable=False)
    # chain is the visibility account's id (or "platform" for records of no account).
    chain = models.CharField(max_length=32)
    seq = models.BigIntegerField()
    event = models.ForeignKey(EventType, on_delete=models.PROTECT, related_name="records")
    event_key = models.CharField(max_length=200)
    timestamp = models.DateTimeField()
    account_id = models.CharField(max_length=13, blank=True, db_index=True)
    object_id = models.CharField(max_length=32, db_index=True)
    object_name = models.CharField(max_length=200, blank=True)
    object_type = models.CharField(max_length=64)
    actor_id = models.CharField(max_length=32, db_index=True)
    actor_name = models.CharField(max_length=200, blank=True)
    actor_type = models.CharField(max_length=16)
    actor_account_id = models.CharField(max_length=13, blank=True)
    actor_account_name = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=500)
    details = models.TextField(blank=True)
    request_ip = models.CharField(max_length=64, blank=True)
    request_user_agent = models.CharField(max_length=500, blank=True)
    trace_id = models.CharField(max_length=55, blank=True)
    documents = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq_unique")
        ]
        indexes = [
            models.Index(fields=["account_id", "-timestamp", "-id"], name="audit_account_time"),
            models.Index(fields=["object_id", "-timestamp", "-id"], name="audit_object_time"),
            # One object's records within one account (the API's object.id filter, a token's
            # audit tab): without it SQLite's planner may count through the whole account.
            models.Index(
                fields=["account_id", "object_id", "-timestamp", "-id"],
                name="audit_account_object_time",
            ),
            models.Index(fields=["-timestamp", "-id"], name="audit_time"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.event_key}"

    @property
    def shown_details(self) -> str:
        """What the record says in full. Records written before every record had details
        (issue 13) say it in their summary; the stored row, and so its hash, is unchanged."""
        return self.details or self.summary
