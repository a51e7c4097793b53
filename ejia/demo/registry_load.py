"""Load the synthetic city (ejia.demo.city Parquet files) into the registry, in bulk.

Idempotent: persons are keyed by the blind index, households by their 户号, so running the
seed twice adds nothing. Statuses come from the city's `on_*` facts and a plausible benefit
history is written for assisted households so that the 360° page has something to show.
Set-based writes (`bulk_create` in batches), no per-row ORM round trips.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from django.db import transaction
from django.db.models import Case, OuterRef, Subquery, Value, When
from django.utils import timezone

from ejia.accounts.models import Department, Division
from ejia.core import crypto, idnumber
from ejia.core.audit import audit_record
from ejia.registry.models import (
    ACCOUNT_PURPOSE,
    ID_PURPOSE,
    BenefitRecord,
    Household,
    HouseholdStatus,
    Membership,
    MemberStatus,
    Person,
    Relation,
    StatusKind,
)
from ejia.registry.population import population_import
from ejia.registry.services import id_index, mask_account

logger = logging.getLogger(__name__)
BATCH = 2000
HOUSEHOLD_FACTS = (
    "financial_assets_fen",
    "vehicles",
    "housing_units",
    "has_business",
    "housing_condition",
    "housing_area_per_capita_m2",
    "medical_oop_year_fen",
    "education_oop_year_fen",
    "disaster_loss_fen",
    "house_damaged_by_disaster",
    "sudden_hardship",
)
MEMBER_FACTS = (
    "income_month_fen",
    "employment",
    "pension_month_fen",
    "has_capable_supporter",
    "disability_grade",
    "disability_kind",
    "serious_illness",
    "chronic_illness",
    "self_care",
    "school_stage",
)
STATUS_FACTS = {
    "on_tekun": StatusKind.TEKUN,
    "on_dibao": StatusKind.DIBAO,
    "on_dibao_edge": StatusKind.DIBAO_EDGE,
    "on_expense_hardship": StatusKind.EXPENSE_HARDSHIP,
    "lifted_from_poverty": StatusKind.LIFTED_FROM_POVERTY,
    "relapse_monitoring": StatusKind.RELAPSE_MONITORING,
}
# Reference amounts for the demo history only (2023 Binzhou standards, fen per person-month).
DIBAO_LINE = {True: 100_100, False: 78_900}
TEKUN_BASIC = {True: 132_000, False: 103_500}


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    return value


def city_dir(scale: str = "demo") -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "city" / scale


def registry_load_city(*, directory: Path, months: int = 6, today: dt.date | None = None) -> dict[str, int]:
    """Load persons, households, memberships, statuses and a benefit history from the city files."""
    import polars as pl

    directory = Path(directory)
    today = today or timezone.localdate()
    persons = pl.read_parquet(directory / "persons.parquet")
    households = pl.read_parquet(directory / "households.parquet")
    members = pl.read_parquet(directory / "members.parquet")
    counts = {"persons": 0, "households": 0, "memberships": 0, "statuses": 0, "benefits": 0, "population": 0}

    population = directory / "departments" / "公安_人口基础信息.csv"
    if population.exists():
        counts["population"] = population_import(path=population).written

    # ---- persons (keyed by blind index; existing ones are kept as they are)
    deceased = set()
    if "deceased" in members.columns:
        deceased = set(members.filter(pl.col("deceased"))["person_id"].to_list())
    index_of: dict[int, str] = {}
    batch: list[Person] = []
    before = Person.objects.count()
    for row in persons.iter_rows(named=True):
        parsed = idnumber.parse(row["id_number"])
        index = id_index(parsed.number)
        index_of[row["person_id"]] = index
        batch.append(
            Person(
                id_number_ciphertext=crypto.encrypt(parsed.number, purpose=ID_PURPOSE),
                id_number_index=index,
                id_number_masked=parsed.masked,
                name=row["name"],
                sex=parsed.sex,
                birth_date=parsed.birth_date,
                phone=row.get("phone") or "",
                ethnicity=row.get("ethnicity") or "",
                deceased_on=today if row["person_id"] in deceased else None,
            )
        )
        if len(batch) >= BATCH:
            Person.objects.bulk_create(batch, ignore_conflicts=True)
            batch.clear()
    if batch:
        Person.objects.bulk_create(batch, ignore_conflicts=True)
    counts["persons"] = Person.objects.count() - before
    person_pk: dict[str, int] = {}
    indexes = list(index_of.values())
    for i in range(0, len(indexes), 5000):
        person_pk.update(
            Person.objects.filter(id_number_index__in=indexes[i : i + 5000]).values_list("id_number_index", "pk")
        )

    # ---- households (keyed by 户号 among demo households)
    villages = dict(Division.objects.filter(level=Division.Level.VILLAGE).values_list("code", "pk"))
    existing = set(Household.objects.filter(source="demo").values_list("hukou_number", flat=True))
    new_households = []
    city_rows = {}
    for row in households.iter_rows(named=True):
        city_rows[row["household_id"]] = row
        if row["household_no"] in existing or row["village_code"] not in villages:
            continue
        account = str(row.get("bank_account") or "")
        new_households.append(
            Household(
                division_id=villages[row["village_code"]],
                address=row["address"],
                urban=bool(row["urban"]),
                hukou_number=row["household_no"],
                bank_name=row.get("bank_name") or "",
                account_ciphertext=crypto.encrypt(account, purpose=ACCOUNT_PURPOSE) if account else "",
                account_masked=mask_account(account) if account else "",
                facts={k: _plain(row[k]) for k in HOUSEHOLD_FACTS if k in row and row[k] is not None},
                source="demo",
            )
        )
    with transaction.atomic():
        Household.objects.bulk_create(new_households, batch_size=BATCH)
    counts["households"] = len(new_households)
    new_numbers = {h.hukou_number for h in new_households}
    household_pk = dict(
        Household.objects.filter(source="demo", hukou_number__in=new_numbers).values_list("hukou_number", "pk")
    )
    by_city_id = {
        hid: household_pk[r["household_no"]] for hid, r in city_rows.items() if r["household_no"] in household_pk
    }

    # ---- memberships, member statuses (tekun is personal)
    already = set(Membership.objects.filter(date_out__isnull=True).values_list("person_id", flat=True))
    memberships, member_statuses = [], []
    per_household: dict[int, list[dict]] = {}
    for row in members.iter_rows(named=True):
        hh = by_city_id.get(row["household_id"])
        pk = person_pk.get(index_of.get(row["person_id"], ""))
        if hh is None or pk is None or pk in already or row["person_id"] in deceased:
            continue
        already.add(pk)
        per_household.setdefault(row["household_id"], []).append({**row, "pk": pk})
        memberships.append(
            Membership(
                household_id=hh,
                person_id=pk,
                relation=Relation.normalise(row["relation"]),
                date_in=max(row["birth_date"], dt.date(2000, 1, 1)),
                facts={k: _plain(row[k]) for k in MEMBER_FACTS if k in row and row[k] is not None},
            )
        )
    with transaction.atomic():
        Membership.objects.bulk_create(memberships, batch_size=BATCH)
    counts["memberships"] = len(memberships)
    counts["account_holders"] = _account_holders_fill()

    # ---- household statuses and a benefit history
    departments = {d.code: d.pk for d in Department.objects.all()}
    programmes = _programmes()
    statuses, benefits = [], []
    since = dt.date(today.year - 1, 1, 1)
    months_back = [_month_start(today, -i) for i in range(months, 0, -1)]
    for city_id, hh in by_city_id.items():
        row = city_rows[city_id]
        people = per_household.get(city_id, [])
        for fact, kind in STATUS_FACTS.items():
            if row.get(fact):
                statuses.append(HouseholdStatus(household_id=hh, kind=kind, start=since, note="演示数据"))
        urban = bool(row["urban"])
        if row.get("on_tekun"):
            for m in people:
                if not m.get("has_capable_supporter") and _age(m["birth_date"], today) >= 60:
                    member_statuses.append(
                        MemberStatus(person_id=m["pk"], household_id=hh, kind=StatusKind.TEKUN, start=since)
                    )
                    for month in months_back:
                        benefits.append(
                            _benefit(
                                hh, "tekun", "mz", TEKUN_BASIC[urban], month, programmes, departments, person=m["pk"]
                            )
                        )
        if row.get("on_dibao") and people:
            income = sum(int(m.get("income_month_fen") or 0) for m in people)
            amount = max(DIBAO_LINE[urban] * len(people) - income, 0) // 100 * 100
            for month in months_back:
                benefits.append(_benefit(hh, "dibao", "mz", amount, month, programmes, departments))
            benefits.append(
                _benefit(
                    hh,
                    "medical_premium_subsidy",
                    "yb",
                    38_000 * len(people),
                    since,
                    programmes,
                    departments,
                    form=BenefitRecord.Form.SUBSIDY,
                )
            )
            for m in people:
                if m.get("serious_illness"):
                    benefits.append(
                        _benefit(
                            hh,
                            "medical_aid",
                            "yb",
                            860_000,
                            months_back[-2],
                            programmes,
                            departments,
                            person=m["pk"],
                            form=BenefitRecord.Form.SUBSIDY,
                        )
                    )
                if m.get("school_stage") in ("primary", "junior", "senior", "vocational"):
                    benefits.append(
                        _benefit(
                            hh,
                            "edu_compulsory" if m["school_stage"] in ("primary", "junior") else "edu_senior",
                            "jy",
                            62_500 if m["school_stage"] in ("primary", "junior") else 100_000,
                            months_back[0],
                            programmes,
                            departments,
                            person=m["pk"],
                        )
                    )
                if (m.get("disability_grade") or 0) in (1, 2):
                    for month in months_back:
                        benefits.append(
                            _benefit(
                                hh,
                                "disability_living_subsidy",
                                "mz",
                                9_000,
                                month,
                                programmes,
                                departments,
                                person=m["pk"],
                            )
                        )
            benefits.append(_benefit(hh, "boai_festival", "hsh", 30_000, _month_start(today, -10), programmes, departments, form=BenefitRecord.Form.IN_KIND))  # fmt: skip
    with transaction.atomic():
        HouseholdStatus.objects.bulk_create(statuses, batch_size=BATCH)
        MemberStatus.objects.bulk_create(member_statuses, batch_size=BATCH)
        BenefitRecord.objects.bulk_create([b for b in benefits if b is not None], batch_size=BATCH)
        counts["statuses"] = len(statuses) + len(member_statuses)
        counts["benefits"] = sum(1 for b in benefits if b is not None)
        audit_record(actor=None, action="registry.demo_load", object_type="registry", data=counts)
    logger.info("registry demo load: %s", counts)
    return counts


def _account_holders_fill() -> int:
    """Every demo household with an account gets its holder (户名): the head, or the eldest
    current member when the head has died — a bank file needs the name on the card. Set-based
    and idempotent (households that have a holder keep it)."""
    holder = (
        Membership.objects.filter(household=OuterRef("pk"), date_out__isnull=True)
        .annotate(not_head=Case(When(relation=Relation.HEAD, then=Value(0)), default=Value(1)))
        .order_by("not_head", "person__birth_date", "pk")
        .values("person_id")[:1]
    )
    with transaction.atomic():
        return (
            Household.objects.filter(source="demo", account_holder__isnull=True)
            .exclude(account_ciphertext="")
            .update(account_holder=Subquery(holder))
        )


def _programmes() -> dict[str, tuple[int, str]]:
    try:
        from ejia.catalogue.models import Programme
    except ImportError:  # pragma: no cover - catalogue always installed
        return {}
    return {p.code: (p.pk, p.name) for p in Programme.objects.all()}


def _benefit(household, code, dept, amount, month, programmes, departments, *, person=None, form=None):
    if dept not in departments:
        return None
    pk, name = programmes.get(code, (None, code))
    return BenefitRecord(
        household_id=household,
        person_id=person,
        programme_id=pk,
        programme_name=name,
        department_id=departments[dept],
        form=form or BenefitRecord.Form.CASH,
        amount_fen=int(amount),
        period_start=month,
        period_end=_month_start(month, 1) - dt.timedelta(days=1),
        source=BenefitRecord.Source.IMPORT,
        note="演示数据",
    )


def _month_start(day: dt.date, offset: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + offset
    return dt.date(index // 12, index % 12 + 1, 1)


def _age(birth: dt.date, today: dt.date) -> int:
    return idnumber.age_on(birth, today)
