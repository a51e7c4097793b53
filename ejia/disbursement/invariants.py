"""Invariants of payment (see ejia/core/invariants.py)."""

from __future__ import annotations

from django.db.models import Count, Exists, F, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce

from ejia.catalogue.models import Programme
from ejia.core.invariants import invariant
from ejia.core.money import format_fen
from ejia.disbursement.models import Entitlement, PaymentBatch

CASH = (Programme.BenefitForm.MONTHLY_CASH, Programme.BenefitForm.ONE_OFF_CASH)


@invariant("batch_totals", "每个已生成的发放批次：银行文件明细的笔数、金额合计等于批次表头（及申报值）")
def batch_totals_match(limit: int) -> list[str]:
    # Lines in the bank file are those never held (hold_reason empty), whatever the bank answered
    # since; a held line stays out of the totals even after it is re-issued in a later batch.
    in_file = Q(lines__hold_reason="")
    batches = (
        PaymentBatch.objects.exclude(status=PaymentBatch.Status.BUILDING)
        .annotate(
            n=Count("lines", filter=in_file),
            total=Coalesce(Sum("lines__amount_fen", filter=in_file), Value(0)),
        )
        .exclude(
            Q(n=F("line_count"))
            & Q(total=F("total_fen"))
            & Q(declared_line_count=F("line_count"))
            & Q(declared_total_fen=F("total_fen"))
        )
        .select_related("county")
    )
    return [
        f"批次 {b.reference}（{b.get_status_display()}）：明细 {b.n} 笔、{format_fen(b.total)}；"
        f"表头 {b.line_count} 笔、{format_fen(b.total_fen)}；申报 {b.declared_line_count} 笔、"
        f"{format_fen(b.declared_total_fen or 0)}"
        for b in batches[:limit]
    ]


@invariant("approved_cash_paid_or_held", "每个批准的现金救助决定都有待遇，或因缺金额、缺指定成员而列入暂缓待处理")
def approved_cash_paid_or_held(limit: int) -> list[str]:
    from ejia.cases.models import ProgrammeRequest
    from ejia.cases.workflow.models import Decision

    unpaid = (
        Decision.objects.filter(
            outcome=Decision.Outcome.APPROVED,
            procedure__request__status=ProgrammeRequest.Status.APPROVED,
            procedure__request__programme__benefit_form__in=CASH,
        )
        .filter(~Exists(Entitlement.objects.filter(request=OuterRef("procedure__request"))))
        # What holds.py lists with a reason someone must act on: no amount decided, or a
        # per-member programme whose member is not named. Anything else was dropped.
        .exclude(Q(amount_fen__isnull=True) | Q(amount_fen__lte=0))
        .exclude(
            procedure__request__programme__target=Programme.Target.MEMBER,
            procedure__request__person__isnull=True,
        )
        .select_related("procedure__request__case", "procedure__request__programme")
    )
    return [
        f"{d.procedure.request.case.reference} {d.procedure.request.programme.name}：批准 "
        f"{format_fen(d.amount_fen)}，既无待遇也不在暂缓待处理中"
        for d in unpaid[:limit]
    ]
