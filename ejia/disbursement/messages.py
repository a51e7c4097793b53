"""Messages to households about their benefits (written notices and payments), through the
platform outbox in the transaction of the change. Texts are registered in DisbursementConfig.ready.

The number used is the one the household's latest application gave, else the account
holder's, else the head's, from the registry.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from ejia.core.models import OutboxMessage
from ejia.core.money import format_fen
from ejia.core.outbox import Message, outbox_enqueue, outbox_enqueue_many
from ejia.registry.models import Household, Membership, Relation

DEFAULT_TEMPLATES: list[tuple[str, str, str]] = [
    ("benefit_notice", "待遇变更通知", "【e家大救助】{title}：{body}"),
    (
        "payment_paid",
        "发放到账",
        "【e家大救助】您家{period}的救助金{amount}已发放到{bank}账户（尾号{tail}），含：{programmes}。",
    ),
]

CHUNK = 2000


def household_phones(household_ids: Iterable[int]) -> dict[int, str]:
    """household id → the number its messages go to ("" when none is known)."""
    from ejia.cases.models import Case

    ids = list(dict.fromkeys(household_ids))
    phones: dict[int, str] = {}
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        for household_id, phone in (
            Case.objects.filter(household_id__in=part)
            .exclude(phone="")
            .order_by("household_id", "-submitted_at", "-pk")
            .values_list("household_id", "phone")
        ):
            phones.setdefault(household_id, phone)
        missing = [pk for pk in part if pk not in phones]
        if missing:
            for household_id, phone in (
                Household.objects.filter(pk__in=missing)
                .exclude(Q(account_holder__isnull=True) | Q(account_holder__phone=""))
                .values_list("pk", "account_holder__phone")
            ):
                phones[household_id] = phone
        missing = [pk for pk in part if pk not in phones]
        if missing:
            for household_id, phone in (
                Membership.objects.filter(household_id__in=missing, date_out__isnull=True, relation=Relation.HEAD)
                .exclude(person__phone="")
                .values_list("household_id", "person__phone")
            ):
                phones.setdefault(household_id, phone)
    return {pk: phones.get(pk, "") for pk in ids}


def notice_message(*, notice, household: Household, subject: str = "") -> OutboxMessage | None:
    """The SMS that goes with a written notice (调整、暂停、终止、渐退、变更决定)."""
    return outbox_enqueue(
        dedup_key=f"notice:{notice.public_id}",
        recipient=household_phones([household.pk])[household.pk],
        template="benefit_notice",
        context={"title": notice.title, "body": notice.body},
        area_path=household.division.path,
        subject=subject[:64],
    )


def payment_messages(line_ids: list[int]) -> int:
    """到账通知 for lines the bank reported paid (one message per line, never twice)."""
    from ejia.disbursement.models import PaymentItem, PaymentLine, line_reference

    written = 0
    for start in range(0, len(line_ids), CHUNK):
        part = line_ids[start : start + CHUNK]
        lines = list(
            PaymentLine.objects.filter(pk__in=part).values(
                "pk",
                "household_id",
                "household__division__path",
                "bank_name",
                "account_masked",
                "amount_fen",
                "bank_amount_fen",
                "batch__period",
                "batch__county__code",
            )
        )
        names: dict[int, list[str]] = {}
        for line_id, name in (
            PaymentItem.objects.filter(line_id__in=part)
            .order_by("line_id", "entitlement__programme__code")
            .values_list("line_id", "entitlement__programme__name")
        ):
            if name not in names.setdefault(line_id, []):
                names[line_id].append(name)
        phones = household_phones(line["household_id"] for line in lines)
        messages = []
        for line in lines:
            period = line["batch__period"]
            paid = line["bank_amount_fen"] if line["bank_amount_fen"] is not None else line["amount_fen"]
            messages.append(
                Message(
                    dedup_key=f"paid:{line['pk']}",
                    recipient=phones[line["household_id"]],
                    template="payment_paid",
                    context={
                        "period": f"{period.year}年{period.month}月",
                        "amount": format_fen(paid),
                        "bank": line["bank_name"] or "一卡通",
                        "tail": (line["account_masked"] or "")[-4:],
                        "programmes": "、".join(names.get(line["pk"], [])),
                    },
                    area_path=line["household__division__path"],
                    subject=f"{line['batch__county__code'][:6]}-{period:%Y%m} {line_reference(line['pk'])}",
                )
            )
        written += outbox_enqueue_many(messages)
    return written
