"""Registered API clients, their secrets, and the answers kept for idempotent retries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ejia.core.models import BaseModel


class ApiClient(BaseModel):
    """A system that calls the open API: a department's own system, the citizens' app, or
    another registry (a partner). Its scopes say which endpoints it may call; the access policy
    (ejia.accounts.policies, API_SCOPES) says what each scope means. A client that acts on
    cases does so as its service account (`service_user`), a staff account with the roles its
    scopes need, so that the same policy decides for it as for a person at a page."""

    class Kind(models.TextChoices):
        DEPARTMENT = "department", _("部门业务系统")
        CITIZEN_APP = "citizen_app", _("群众手机App")
        PARTNER = "partner", _("合作登记系统")

    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=12, choices=Kind.choices)
    client_id = models.SlugField(_("客户端标识"), max_length=64, unique=True)
    scopes = models.JSONField(_("授权范围"), default=list, blank=True)
    # A department system's own department and unit (the service account sits there).
    unit = models.ForeignKey(
        "accounts.OrgUnit", null=True, blank=True, on_delete=models.PROTECT, related_name="api_clients"
    )
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="api_client"
    )
    # The department data sources this client may push (exchange:push), by DataSource code: a
    # department's system delivers its own data, as agreed when it was registered.
    sources = models.JSONField(_("可推送的数据源"), default=list, blank=True)
    # A partner registry's agreement: which fields it may see, and whether ID numbers are masked.
    agreement_fields = models.JSONField(_("协议约定字段"), default=list, blank=True)
    agreement_mask_ids = models.BooleanField(_("身份证号码脱敏"), default=True)
    agreement_ref = models.CharField(_("协议编号"), max_length=100, blank=True)
    # A partner registry's public signing keys (a JWKS): DCI messages it sends are verified
    # with them (ejia.api.dci.signing).
    jwks = models.JSONField(_("签名公钥（JWKS）"), default=dict, blank=True)
    # Where a partner receives DCI callbacks (on-search, txn/on-status, notify), agreed at
    # onboarding: a message's `sender_uri` must lie under it, so no message can make us post to
    # an address nobody registered (ejia.api.dci.transactions.callback_base).
    callback_uri = models.URLField(_("回调地址"), max_length=500, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(_("每分钟调用上限"), default=600)
    is_active = models.BooleanField(_("启用"), default=True)

    class Meta:
        ordering = ["client_id"]

    def __str__(self) -> str:
        return f"{self.name}（{self.client_id}）"


class ApiClientSecret(models.Model):
    """One secret of a client, stored hashed. During a rotation two are valid at once: the new
    one, and the old one until its `expires_at`."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="secrets")
    secret_hash = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]


class IdempotencyRecord(models.Model):
    """The first answer to a creating POST, replayed when the client retries with the same
    `Idempotency-Key` (and refused with 409 when the body differs). The unique constraint makes
    two concurrent retries create once: the loser of the race waits for the winner's row."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=200)
    operation = models.CharField(max_length=200)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="api_idempotency_unique")]


class AppSession(models.Model):
    """A citizen logged in to the citizens' app (phone + SMS code): a personal token bound to the
    app's client and to the phone, stored hashed. It reaches only the applications made with that
    phone; it ends when it expires, when the citizen logs out, or when the app client is disabled."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="app_sessions")
    phone = models.CharField(max_length=20, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]


class DciTransaction(BaseModel):
    """One asynchronous DCI request of a partner (a search, later a subscription): what it asked,
    what we answered, and when. `txn/status` reads it back. The request and the answer carry
    ID numbers and registry records, so both are stored encrypted (ejia.core.crypto)."""

    class Status(models.TextChoices):
        # The spec's MsgCallbackHeader status values.
        RECEIVED = "rcvd", _("已接收")
        PENDING = "pdng", _("处理中")
        SUCCEEDED = "succ", _("已完成")
        REJECTED = "rjct", _("已拒绝")

    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="dci_transactions")
    action = models.CharField(max_length=20)
    transaction_id = models.CharField(max_length=99)
    correlation_id = models.CharField(max_length=64, unique=True)
    # The partner's own ids of the requests of the batch (not personal data): txn/status by
    # reference_id_list finds the transaction by them.
    reference_ids = models.JSONField(default=list)
    request_hash = models.CharField(max_length=64)
    request_ciphertext = models.TextField()
    response_ciphertext = models.TextField(blank=True)
    callback_uri = models.CharField(max_length=500)
    status = models.CharField(max_length=4, choices=Status.choices, default=Status.RECEIVED)
    error = models.CharField(max_length=500, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "action", "transaction_id"], name="api_dcitransaction_unique_per_client"
            )
        ]


class DciDelivery(models.Model):
    """One signed callback to a partner (on-search, txn-on-status, notify …), sent by the task
    worker and retried with a backoff; after the last attempt it stays here as failed, with the
    error, for the operators (`manage.py ejia_dci_deliver --failed`) — never dropped silently."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        SENT = "sent", _("已送达")
        FAILED = "failed", _("发送失败")

    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="dci_deliveries")
    dci_transaction = models.ForeignKey(
        DciTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries"
    )
    action = models.CharField(max_length=20)
    url = models.CharField(max_length=600)
    body_ciphertext = models.TextField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]


class DciSubscription(BaseModel):
    """A partner's standing subscription (DCI registry/subscribe): the criteria of a search,
    notified when a matching household of its area changes (ejia.api.dci.subscriptions). The
    criteria may hold ID numbers, so they are stored encrypted."""

    class Status(models.TextChoices):
        ACTIVE = "subscribe", _("订阅中")
        UNSUBSCRIBED = "unsubscribe", _("已取消")

    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="dci_subscriptions")
    dci_transaction = models.ForeignKey(DciTransaction, on_delete=models.PROTECT, related_name="subscriptions")
    code = models.CharField(max_length=64, unique=True)
    reference_id = models.CharField(max_length=99)
    entity = models.CharField(max_length=8)  # Group | Member
    criteria_ciphertext = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
