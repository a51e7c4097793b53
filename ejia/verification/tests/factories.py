"""Annual re-verification test data: a finished batch of one county with a flagged household."""

from __future__ import annotations

from django.utils import timezone

from ejia.accounts.models import Division
from ejia.verification.models import ReverificationBatch, ReverificationFlag
from ejia.verification.reviews import review_batch_start


def flagged_batch(*, actor, household, county_code: str = "371602", **flag) -> ReverificationFlag:
    """A batch of `county_code` started by `actor` and finished, which flagged `household`'s
    低保 (override any flag field by keyword)."""
    batch = review_batch_start(actor=actor, county=Division.objects.get(code=county_code), run=False)
    ReverificationBatch.objects.filter(pk=batch.pk).update(
        status=ReverificationBatch.Status.FINISHED, finished_at=timezone.now(), total=1, done=1, flagged=1
    )
    fields = {
        "programme_code": "dibao",
        "programme_name": "最低生活保障（低保）",
        "status_kind": "dibao",
        "outcome": ReverificationFlag.Outcome.NOT_ELIGIBLE,
        "reasons": ["家庭金融资产超过规定标准"],
    } | flag
    return ReverificationFlag.objects.create(
        batch=ReverificationBatch.objects.get(pk=batch.pk), household=household, **fields
    )
