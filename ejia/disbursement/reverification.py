"""年度复核的处理: the reviewer's answer to each household the annual batch re-verification
(`ejia.verification.reviews`) flagged. It lives here, in 动态管理, because the answer is about
the household's entitlements: either the verified data does not change them (kept, with a
written reason), or they were suspended, adjusted or ended through the entitlement services
first (acted on). Verification finds; this app decides and pays (dependencies point
verification ← cases ← disbursement).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from ejia.accounts.policies import Capability, require
from ejia.accounts.scope import require_division
from ejia.core.audit import audit_record
from ejia.disbursement.models import Entitlement
from ejia.disbursement.services import LIVE
from ejia.verification.models import ReverificationFlag
from ejia.verification.reviews import ReviewRefused

NOTE_MIN, NOTE_MAX = 4, 500


def flag_get_for_user(*, user, flag_id: int) -> ReverificationFlag:
    """One flag, if the user reviews the county of its batch. Raises PermissionDenied / Http404."""
    require(user, Capability.REVERIFICATION_MANAGE)
    flag = (
        ReverificationFlag.objects.select_related(
            "batch", "batch__county", "household", "household__division", "household__division__parent", "resolved_by"
        )
        .filter(pk=flag_id)
        .first()
    )
    if flag is None:
        raise Http404("没有这条复核记录。")
    require_division(user, flag.batch.county)
    return flag


def flag_entitlements(flag: ReverificationFlag) -> list[Entitlement]:
    """The household's entitlements of the flagged programme that are still paid, or that were
    changed after the batch finished (a suspension or an end made in answer to it)."""
    since = flag.batch.finished_at or flag.batch.created_at
    return list(
        Entitlement.objects.filter(household_id=flag.household_id, programme__code=flag.programme_code)
        .filter(Q(status__in=LIVE) | Q(updated_at__gte=since))
        .select_related("programme", "person")
        .order_by("start_month", "pk")
    )


def next_open_flag(flag: ReverificationFlag) -> ReverificationFlag | None:
    """The batch's next flag still waiting for an answer, in the order the batch page lists them."""
    open_flags = ReverificationFlag.objects.filter(batch_id=flag.batch_id, resolution="").exclude(pk=flag.pk)
    after = open_flags.filter(
        Q(household_id__gt=flag.household_id)
        | Q(household_id=flag.household_id, programme_code__gt=flag.programme_code)
    ).first()
    return after or open_flags.first()


def review_flag_resolve(*, actor, flag_id: int, resolution: str, note: str) -> ReverificationFlag:
    """Record what the reviewer made of one flag: kept (the verified data does not change the
    entitlement, with why) or acted on (the entitlement was suspended, adjusted or ended in
    动态管理 first). One transaction, the flag row locked, an audit event naming the actor. A flag
    already answered is not answered again: a second click or a stale page gets a message."""
    Resolution = ReverificationFlag.Resolution
    if resolution not in Resolution.values:
        raise ReviewRefused("请选择处理结果。")
    note = (note or "").strip()
    if len(note) < NOTE_MIN:
        raise ReviewRefused(f"请写明处理说明（至少{NOTE_MIN}个字），例如核实了什么、依据哪份材料。")
    if len(note) > NOTE_MAX:
        raise ReviewRefused(f"处理说明请控制在{NOTE_MAX}字以内。")
    with transaction.atomic():
        locked = ReverificationFlag.objects.select_for_update(of=("self",)).filter(pk=flag_id).first()
        if locked is None:
            raise Http404("没有这条复核记录。")
        flag = flag_get_for_user(user=actor, flag_id=flag_id)
        if flag.batch.is_open:
            raise ReviewRefused("批次尚未核对完成，完成后才能处理。")
        if flag.resolution:
            who = flag.resolved_by.get_full_name() if flag.resolved_by else "系统"
            when = timezone.localtime(flag.resolved_at).strftime("%Y-%m-%d %H:%M")
            raise ReviewRefused(f"这一项已由{who}于 {when} 处理为“{flag.get_resolution_display()}”，未重复处理。")
        if resolution == Resolution.ACTED:
            since = flag.batch.finished_at or flag.batch.created_at
            entitlements = flag_entitlements(flag)
            if entitlements and not any(e.updated_at >= since for e in entitlements):
                raise ReviewRefused(
                    f"该户的{flag.programme_name}待遇在复核后还没有调整、暂停或终止。"
                    "请先在待遇页面作出处理（系统生成书面通知），再登记结果。"
                )
        flag.resolution = resolution
        flag.resolution_note = note
        flag.resolved_by = actor
        flag.resolved_at = timezone.now()
        flag.save(update_fields=["resolution", "resolution_note", "resolved_by", "resolved_at"])
        audit_record(
            actor=actor,
            action="verification.review_flag_resolve",
            obj=flag.batch,
            reason=note,
            data={
                "flag": flag.pk,
                "household": str(flag.household.public_id),
                "programme": flag.programme_code,
                "resolution": resolution,
            },
        )
    return flag
