"""How long DCI exchanges are kept (EJIA_DCI_RETENTION_DAYS, default 90; docs/dci.md).

A partner's async search keeps its request and our answer (both encrypted: they hold ID numbers
and registry records) so that `txn/status` can read it back, and every callback is a delivery
row with the signed envelope. Once the exchange is over they serve no purpose, and PIPL Art. 19
keeps personal information only as long as its purpose needs. The purge, in one transaction:

- deletes delivered callbacks (`sent`) delivered before the cut-off;
- deletes subscriptions ended (unsubscribed) before the cut-off;
- deletes finished transactions (`succ`/`rjct`) completed before the cut-off that no remaining
  delivery or subscription still names (an active subscription keeps its subscribe transaction);
- keeps every failed callback and its transaction until someone has handled it (重新投递), and
  every pending one (it is still being sent);
- audits one summary event `api.dci.purge` with the counts only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from ejia.api.models import DciDelivery, DciSubscription, DciTransaction
from ejia.core.audit import audit_record

CHUNK = 1000


class RetentionError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PurgeResult:
    days: int
    cutoff: dt.datetime
    deliveries: int  # delivered callbacks deleted
    subscriptions: int  # ended subscriptions deleted
    transactions: int  # finished transactions deleted
    failed_kept: int  # failed callbacks older than the cut-off, kept until handled


def retention_days() -> int:
    return int(settings.EJIA_DCI_RETENTION_DAYS)


def dci_purge(*, actor=None, days: int | None = None, now: dt.datetime | None = None) -> PurgeResult:
    """Delete the DCI exchanges older than `days` (default: the setting) that are over."""
    days = retention_days() if days is None else days
    if days < 1:
        raise RetentionError("DCI事务保存天数至少为1天。")
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    with transaction.atomic():
        deliveries, _ = DciDelivery.objects.filter(status=DciDelivery.Status.SENT, sent_at__lt=cutoff).delete()
        subscriptions, _ = DciSubscription.objects.filter(
            status=DciSubscription.Status.UNSUBSCRIBED, unsubscribed_at__lt=cutoff
        ).delete()
        finished = (
            DciTransaction.objects.filter(
                status__in=(DciTransaction.Status.SUCCEEDED, DciTransaction.Status.REJECTED), completed_at__lt=cutoff
            )
            .exclude(Exists(DciDelivery.objects.filter(dci_transaction=OuterRef("pk"))))
            .exclude(Exists(DciSubscription.objects.filter(dci_transaction=OuterRef("pk"))))
        )
        # Locked as search_complete locks them: nothing can add a callback to one meanwhile.
        pks = list(finished.select_for_update().order_by("pk").values_list("pk", flat=True))
        transactions = 0
        for start in range(0, len(pks), CHUNK):
            transactions += DciTransaction.objects.filter(pk__in=pks[start : start + CHUNK]).delete()[0]
        failed_kept = DciDelivery.objects.filter(status=DciDelivery.Status.FAILED, created_at__lt=cutoff).count()
        audit_record(
            actor=actor,
            action="api.dci.purge",
            data={
                "days": days,
                "cutoff": cutoff.isoformat(),
                "deliveries": deliveries,
                "subscriptions": subscriptions,
                "transactions": transactions,
                "failed_kept": failed_kept,
            },
        )
    return PurgeResult(days, cutoff, deliveries, subscriptions, transactions, failed_kept)
