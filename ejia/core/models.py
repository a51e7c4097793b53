from __future__ import annotations

import functools
import uuid

from django.conf import settings
from django.db import models
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


class BaseModel(models.Model):
    """Integer primary key inside the database, a UUID in every URL and API."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def _get_FIELD_display(self, field):
        """The label of a choice, as Django gives it, from a table built once per field and
        language: Django's own builds the table on every call (hashing every lazy label, a
        translation lookup each), which was most of a list page's template time."""
        value = getattr(self, field.attname)
        return force_str(_choice_labels(field, get_language()).get(make_hashable(value), value), strings_only=True)


@functools.cache
def _choice_labels(field, language: str | None) -> dict:
    """{value: label} of a field's choices, the labels translated into `language` (the active
    one when it is first asked for)."""
    return {make_hashable(value): str(label) for value, label in field.flatchoices}


class AuditEvent(models.Model):
    """Append-only, hash-chained record of who did what to which object, when and why.

    Each entry's `hash` is an HMAC over the previous entry's hash and this entry's content,
    so editing, deleting or reordering entries breaks the chain (see ejia.core.audit).
    """

    seq = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id} by {self.actor_label}"


class AuditChainHead(models.Model):
    """One row: the newest sequence number and hash. Writers lock it to extend the chain."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)


class AccessEvent(models.Model):
    """Append-only record of a read (an API call): one INSERT, no lock, so that reads do not
    queue on the audit chain's head row. Tamper-evidence comes later and in bulk: the seal job
    (ejia.core.audit.access_seal, `manage.py ejia_audit_seal`) takes the unsealed rows, writes
    ONE chain event `audit.access_seal` carrying their count and an HMAC digest over their
    content, and stamps them with that event's `seq`. `audit_verify` recomputes every sealed
    batch, so a row edited, deleted or moved after sealing breaks its seal."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # The seq of the chain event `audit.access_seal` that sealed this row; null until sealed.
    sealed_seq = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            # What the seal job reads: the unsealed rows in order (small: sealed every minute).
            models.Index(fields=["id"], condition=models.Q(sealed_seq__isnull=True), name="core_access_unsealed"),
        ]

    def __str__(self) -> str:
        return f"access #{self.id} {self.action} {self.object_type}:{self.object_id} by {self.actor_label}"


class CalendarDay(models.Model):
    """An exception to the Monday–Friday week: a public holiday on a weekday, or a weekend day
    made a working day (调休). Deadlines in working days count with this table."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", "法定节假日（休息）"
        WORKDAY = "workday", "调休上班日"

    date = models.DateField(unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=40)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.name}（{self.get_kind_display()}）"


class NotificationTemplate(models.Model):
    """SMS texts as data, with {placeholders} filled from the event (seeded from the apps'
    defaults, editable without a release)."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=40)
    text = models.TextField()
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name


class OutboxMessage(models.Model):
    """One message to a citizen, written in the transaction of the change it reports and sent
    after commit by the task worker, at least once (ejia.core.outbox)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        SENT = "sent", _("已发送")
        FAILED = "failed", _("发送失败")
        NO_RECIPIENT = "no_recipient", _("无有效手机号码")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    dedup_key = models.CharField(max_length=120, unique=True)
    channel = models.CharField(max_length=10, default="sms")
    recipient = models.CharField(max_length=40, blank=True)
    template = models.CharField(max_length=40)
    text = models.TextField()
    # The household's division path (accounts.Division.path, copied: core sits below accounts),
    # so that staff see the messages of their own area; and what the message is about (a case
    # reference, a payment batch), for the staff page.
    area_path = models.CharField(max_length=100, blank=True, db_index=True)
    subject = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # A failed attempt waits before the next one (backoff); a sender claims a row for a while.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Staff put a failed message back in the queue (重新发送); each time is counted and audited.
    retries = models.PositiveSmallIntegerField(default=0)
    retried_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    retried_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.template} → {self.recipient} ({self.status})"


class JobRun(models.Model):
    """The last outcome of each scheduled maintenance job (one row per job, `ejia.core.health`):
    when it last started and finished, whether it passed, and what it said. The job writes it
    itself in its own short transactions, so a failure the job rolls back is still recorded, and
    the system administrator's 运行状态 page and work item read it."""

    name = models.CharField(max_length=64, unique=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    ok = models.BooleanField(null=True)  # None while the first run has not finished
    message = models.TextField(blank=True)
    last_ok_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.name
