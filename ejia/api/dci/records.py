"""Our registry as DCI records: a household (共同生活家庭) is a `Group`, a person in it a
`Member`. What a partner sees is decided by its agreement: the fields it names, and whether ID
numbers are masked (the default) or given in full (decrypted for that answer only).

Group: `@type` spdci:Group, `@id` urn:ejia:group:<household UUID>, `group_identifier`
[HouseholdID = UUID, HukouNumber = 户号 when agreed], `group_type` "household", `place`
{address, division code/name}, `group_size`, `group_head_info` and `member_list` (Members),
`registration_date`, `last_updated`, `additional_attributes` (current 救助身份 kinds).
Member: `@type` spdci:Member, `@id` urn:ejia:member:<person UUID>, `member_identifier`
[NationalID = masked or full 身份证号码], `demographic_info` {name, sex, birth_date, phone},
`relation` (与户主关系).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, Q
from django.utils import timezone

from ejia.core import crypto
from ejia.registry.models import ID_PURPOSE, Household, HouseholdStatus, Membership, Person, Relation

GROUP_FIELDS = (
    "hukou_number",
    "place",
    "group_size",
    "group_head_info",
    "member_list",
    "registration_date",
    "last_updated",
    "additional_attributes",
)
MEMBER_FIELDS = ("name", "sex", "birth_date", "phone", "relation")
AGREEMENT_FIELDS = frozenset(GROUP_FIELDS + MEMBER_FIELDS)
SEX = {"M": "male", "F": "female"}


@dataclass(frozen=True)
class Agreement:
    """A partner's data agreement: the fields it may see and whether ID numbers are masked."""

    fields: frozenset[str] = field(default_factory=frozenset)
    mask_ids: bool = True

    @classmethod
    def of(cls, fields, *, mask_ids: bool = True) -> Agreement:
        unknown = set(fields) - AGREEMENT_FIELDS
        if unknown:
            raise ValueError(f"unknown agreement fields: {sorted(unknown)}")
        return cls(frozenset(fields), mask_ids)


def _ts(moment: dt.datetime) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds")


def member_record(person: Person, relation: str | None, agreement: Agreement) -> dict[str, Any]:
    shown = agreement.fields
    number = person.id_number_masked
    if not agreement.mask_ids:
        number = crypto.decrypt(person.id_number_ciphertext, purpose=ID_PURPOSE)
    record: dict[str, Any] = {
        "@type": "spdci:Member",
        "@id": f"urn:ejia:member:{person.public_id}",
        "member_identifier": [{"@type": "Identifier", "identifier_type": "NationalID", "identifier_value": number}],
    }
    demographic: dict[str, Any] = {"@type": "SRPerson"}
    if "name" in shown:
        demographic["name"] = {"@type": "Name", "given_name": person.name}
    if "sex" in shown:
        demographic["sex"] = SEX.get(person.sex, person.sex)
    if "birth_date" in shown:
        demographic["birth_date"] = person.birth_date.isoformat()
    if "phone" in shown and person.phone:
        demographic["phone_number"] = person.phone
    if len(demographic) > 1:
        record["demographic_info"] = demographic
    if "relation" in shown and relation:
        record["relation"] = str(Relation(relation).label)
    return record


def group_record(household: Household, agreement: Agreement, *, today: dt.date) -> dict[str, Any]:
    """`household` must come from `groups_queryset` (its current members and statuses prefetched)."""
    shown = agreement.fields
    identifiers = [
        {"@type": "Identifier", "identifier_type": "HouseholdID", "identifier_value": str(household.public_id)}
    ]
    if "hukou_number" in shown and household.hukou_number:
        identifiers.append(
            {"@type": "Identifier", "identifier_type": "HukouNumber", "identifier_value": household.hukou_number}
        )
    record: dict[str, Any] = {
        "@type": "spdci:Group",
        "@id": f"urn:ejia:group:{household.public_id}",
        "group_identifier": identifiers,
        "group_type": "household",
    }
    members = household.dci_members
    if "place" in shown:
        record["place"] = {
            "@type": "Place",
            "address": household.address,
            "division_code": household.division.code,
            "division_name": household.division.full_name,
        }
    if "group_size" in shown:
        record["group_size"] = len(members)
    if "group_head_info" in shown:
        head = next((m for m in members if m.relation == Relation.HEAD), None)
        if head is not None:
            record["group_head_info"] = member_record(head.person, head.relation, agreement)
    if "member_list" in shown:
        record["member_list"] = [member_record(m.person, m.relation, agreement) for m in members]
    if "registration_date" in shown:
        record["registration_date"] = _ts(household.created_at)
    if "last_updated" in shown:
        record["last_updated"] = _ts(household.updated_at)
    if "additional_attributes" in shown:
        kinds = sorted({s.kind for s in household.dci_statuses if s.active_on(today)})
        record["additional_attributes"] = [{"assistance_status": kind} for kind in kinds]
    return record


def groups_queryset(condition: Q):
    current = Membership.objects.filter(date_out__isnull=True).select_related("person").order_by("relation", "pk")
    return (
        Household.objects.filter(condition)
        .select_related("division")
        .prefetch_related(
            Prefetch("memberships", queryset=current, to_attr="dci_members"),
            Prefetch(
                "statuses",
                queryset=HouseholdStatus.objects.filter(end__isnull=True)
                | HouseholdStatus.objects.filter(end__gte=timezone.localdate()),
                to_attr="dci_statuses",
            ),
        )
        .order_by("pk")
    )


def members_queryset(condition: Q):
    return (
        Membership.objects.filter(date_out__isnull=True, household__in=Household.objects.filter(condition).values("pk"))
        .select_related("person")
        .order_by("pk")
    )


def _paged(queryset, page):
    if page.after_pk is not None:
        return queryset.filter(pk__gt=page.after_pk)[: page.size]
    start = (page.number - 1) * page.size
    return queryset[start : start + page.size]


def group_records_page(condition: Q, page, agreement: Agreement, *, today: dt.date):
    """(records, total_count, last primary key) of one page of households."""
    rows = list(_paged(groups_queryset(condition), page))
    total = Household.objects.filter(condition).count()
    records = [group_record(h, agreement, today=today) for h in rows]
    return records, total, rows[-1].pk if rows else None


def member_records_page(condition: Q, page, agreement: Agreement, *, today: dt.date):
    queryset = members_queryset(condition)
    rows = list(_paged(queryset, page))
    total = queryset.count()
    records = [member_record(m.person, m.relation, agreement) for m in rows]
    return records, total, rows[-1].pk if rows else None
