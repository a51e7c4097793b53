"""Twelve months of demo history, so the dashboards are not empty on first start (issue #19).

Money (this module): recipients of the demo city's counties get entitlements that start in
different months of the last twelve (低保 and 特困 for the households the registry lists on
them, other departments' programmes for 低保边缘 and 支出型 households), some decided late so
that their first batch pays 补发, some ended on the way. Then, month by month, each county's
batch is built, released by a second person, exported and answered by a bank return file
(some lines failed or returned, failed ones re-issued into the next month; in each county one
household's account is closed for two months, so its lines are held and then re-issued, and
another's from two months ago on, so its lines stay held). The current month's batch is exported
and waits for the bank. All of it goes through the real services in ejia/disbursement, in the
order staff would have done it, and ends with a refresh of the dashboards' twelve months.

Applications (ejia/demo/history_cases.py) run month by month before that month's batches, so
an approval's entitlement is paid by the next batch.

The services stamp "now" on what they write (batch built/released/exported/answered times,
entitlement creation). After each month the generator moves those timestamps into that month
with one queryset UPDATE per table; the audit log keeps the real time, since its hash chain is
never rewritten.

Idempotent: each month's new entitlements carry `facts["demo_history"] = "YYYY-MM"`, so a month
already seeded is skipped; batches, releases, exports and returns are only done when the batch
is not that far yet. A second run adds nothing.
"""

from __future__ import annotations

import datetime as dt
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.db.models import Q
from django.utils import timezone

from ejia.accounts.models import Division, OrgUnit, Role, User
from ejia.accounts.services import staff_create
from ejia.catalogue.models import Programme
from ejia.dashboards.refresh import recent_months, refresh
from ejia.demo.history_cases import demo_history_cases
from ejia.demo.staff import DEMO_COUNTY
from ejia.disbursement.bankfiles import BankAnswer, bank_file_export, bank_return_import, return_file
from ejia.disbursement.batches import batch_build, batch_release
from ejia.disbursement.models import (
    Entitlement,
    PaymentBatch,
    PaymentLine,
    PaymentReturn,
    add_months,
    month_start,
    period_label,
)
from ejia.disbursement.reconciliation import line_reissue
from ejia.disbursement.services import entitlement_create, entitlement_end
from ejia.disbursement.transitions import LineAction
from ejia.registry.models import Household, HouseholdStatus, Membership, MemberStatus, StatusKind
from ejia.registry.services import household_account_set

MARK = "demo_history"
# 低保 gap per member (2023 urban standard ¥1,001 less the member's income, at least ¥150) and
# the 特困 basic support; other programmes pay their catalogue's usual amounts.
DIBAO_STANDARD_FEN = 100100
DIBAO_MINIMUM_FEN = 15000
TEKUN_FEN = 135000
# Programmes for 低保边缘 and 支出型 households (they hold a status, which pays nothing itself):
# (code, amount in fen) — 民政, 住建, 人社, 卫健, 总工会.
OTHER_PROGRAMMES = (
    ("rent_subsidy", 30000),
    ("linshi", 200000),
    ("unemployment_benefit", 156000),
    ("family_planning_special_support", 59000),
    ("worker_hardship_aid", 100000),
)
# Share of the 低保/特困 stock already paid before the window (start in its first month).
STOCK_PERCENT = 70
# Who prepares and who releases the batches of a county without demo staff (see _payers).
PAYERS = (("prepare", "周国庆"), ("release", "钱晓梅"))


def _at(day: dt.date, hour: int) -> dt.datetime:
    """A time on `day`, never later than now (the current month's steps happened already)."""
    return min(timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 0))), timezone.now())


# ---------------------------------------------------------------- who pays


@dataclass(frozen=True)
class Payers:
    prepare: User
    release: User


def _payers(county: Division) -> Payers:
    """滨城区: county_reviewer prepares, centre_director releases (the demo logins). Other
    counties: two accounts of the county centre without a password (nobody signs in as them),
    the generator's hands there."""
    if county.code == DEMO_COUNTY:
        users = {u.username: u for u in User.objects.filter(username__in=["county_reviewer", "centre_director"])}
        if len(users) == 2:
            return Payers(users["county_reviewer"], users["centre_director"])
    unit = OrgUnit.objects.get(division=county, kind="centre")
    users = []
    for suffix, name in PAYERS:
        username = f"history_{county.code}_{suffix}"
        user = User.objects.filter(username=username).first()
        if user is None:
            user = staff_create(
                actor=None,
                username=username,
                password_hash=make_password(None),
                display_name=name,
                unit=unit,
                roles=[Role.COUNTY_REVIEWER],
                must_change_password=False,
            )
        users.append(user)
    return Payers(*users)


# ---------------------------------------------------------------- the plan of entitlements


@dataclass(frozen=True)
class Planned:
    """One entitlement to create: written in month `decided`, paid from `start` (earlier when
    decided late: the first batch pays the months between as 补发), ended from `ends`."""

    household_id: int
    county_code: str
    programme: str
    amount_fen: int
    start: dt.date
    decided: dt.date
    person_id: int | None = None
    ends: dt.date | None = None


def _member_income(household_ids: list[int]) -> dict[int, list[int]]:
    income: dict[int, list[int]] = {}
    for household_id, facts in Membership.objects.filter(
        household_id__in=household_ids, date_out__isnull=True
    ).values_list("household_id", "facts"):
        facts = facts or {}
        income.setdefault(household_id, []).append(
            int(facts.get("income_month_fen") or 0) + int(facts.get("pension_month_fen") or 0)
        )
    return income


def _start_and_decided(key: str, months: list[dt.date], stock: bool) -> tuple[dt.date, dt.date]:
    n = zlib.crc32(key.encode())
    if stock and n % 100 < STOCK_PERCENT:
        return months[0], months[0]
    start = months[1 + n % (len(months) - 1)]
    index = months.index(start)
    # One in five decided one or two months after the month it pays from.
    if index + 2 < len(months) and (n >> 8) % 5 == 0:
        return start, months[index + 1 + (n >> 12) % 2]
    return start, start


def plan_entitlements(*, months: list[dt.date], county_codes: list[str]) -> list[Planned]:
    """Who gets what from when, from the registry's statuses (deterministic)."""
    counties = Q()
    for code in county_codes:
        counties |= Q(household__division__code__startswith=code)
    # Households already paid by something else of the demo (its cases, 动态管理) keep to that.
    taken = set(Entitlement.objects.exclude(**{f"facts__{MARK}__isnull": False}).values_list("household_id", flat=True))
    rows = (
        HouseholdStatus.objects.filter(counties)
        .exclude(household_id__in=taken)
        .values_list("household_id", "kind", "household__division__code")
        .order_by("household_id", "kind")
        .distinct()
    )
    by_kind: dict[str, list[tuple[int, str]]] = {}
    for household_id, kind, village in rows:
        by_kind.setdefault(kind, []).append((household_id, village[:6]))
    planned: list[Planned] = []
    dibao = by_kind.get(StatusKind.DIBAO, [])
    income = _member_income([h for h, _ in dibao])
    stock = 0
    # The stable choices below are keyed by position in the ordered rows, never by database key:
    # the same registry gives the same history on every database, whatever its sequences say.
    for position, (household_id, county) in enumerate(dibao):
        members = income.get(household_id) or [0]
        gap = sum(max(DIBAO_MINIMUM_FEN, DIBAO_STANDARD_FEN - m) for m in members)
        start, decided = _start_and_decided(f"dibao:{position}", months, stock=True)
        # One in twelve 低保 households of the stock leaves during the year (work found, moved).
        ends = None
        if start == months[0]:
            if stock % 12 == 1:
                ends = months[2 + (stock // 12 * 5) % (len(months) - 3)]
            stock += 1
        planned.append(Planned(household_id, county, "dibao", gap // 100 * 100, start, decided, ends=ends))
    seen_tekun: set[int] = set()
    for person_id, household_id, village in (
        MemberStatus.objects.filter(counties, kind=StatusKind.TEKUN)
        .exclude(household_id__in=taken)
        .values_list("person_id", "household_id", "household__division__code")
        .order_by("person_id")
    ):
        if person_id in seen_tekun:
            continue
        start, decided = _start_and_decided(f"tekun:{len(seen_tekun)}", months, stock=True)
        seen_tekun.add(person_id)
        planned.append(Planned(household_id, village[:6], "tekun", TEKUN_FEN, start, decided, person_id=person_id))
    others = sorted(set(by_kind.get(StatusKind.DIBAO_EDGE, [])) | set(by_kind.get(StatusKind.EXPENSE_HARDSHIP, [])))
    heads = dict(
        Membership.objects.filter(household_id__in=[h for h, _ in others], date_out__isnull=True)
        .order_by("household_id", "relation", "pk")
        .values_list("household_id", "person_id")
        .distinct()
    )
    member_programmes = {"unemployment_benefit"}
    for i, (household_id, county) in enumerate(others):
        code, amount = OTHER_PROGRAMMES[i % len(OTHER_PROGRAMMES)]
        start, decided = _start_and_decided(f"{code}:{i}", months, stock=False)
        person = heads.get(household_id) if code in member_programmes else None
        if code in member_programmes and person is None:
            continue
        planned.append(Planned(household_id, county, code, amount, start, decided, person_id=person))
    return planned


# ---------------------------------------------------------------- one month


@dataclass
class MonthResult:
    entitlements: int = 0
    ended: int = 0
    batches: int = 0
    lines: int = 0
    failed: int = 0
    held: int = 0


def _answer_file(batch: PaymentBatch) -> bytes:
    """The bank's return file: most lines paid, about 3 % failed, 1 % returned (a stable choice
    by the line's position in the batch, the same on every database)."""
    answers = []
    for position, (pk, amount) in enumerate(
        batch.lines.filter(status=PaymentLine.Status.PENDING).order_by("pk").values_list("pk", "amount_fen")
    ):
        n = zlib.crc32(f"bank:{batch.period:%Y%m}:{position}".encode()) % 100
        if n < 3:
            answers.append(BankAnswer(pk, amount, LineAction.BANK_FAILED, note="账户状态异常（冻结）"))
        elif n < 4:
            answers.append(
                BankAnswer(
                    pk, amount, LineAction.BANK_RETURNED, f"R{batch.period:%Y%m}{pk}", "户名与账户不符，资金退回"
                )
            )
        else:
            answers.append(BankAnswer(pk, amount, LineAction.BANK_PAID, f"B{batch.period:%Y%m}{pk}"))
    return return_file(answers)


def _county_month(
    county: Division, month: dt.date, payers: Payers, *, current: bool, result: MonthResult
) -> PaymentBatch:
    batch = PaymentBatch.objects.filter(county=county, period=month).first()
    if batch is None or batch.status == PaymentBatch.Status.BUILDING:
        batch = batch_build(actor=payers.prepare, county=county, period=month)
    if batch.status == PaymentBatch.Status.BUILT:
        batch = batch_release(actor=payers.release, batch=batch)
    if batch.status == PaymentBatch.Status.RELEASED:
        bank_file_export(actor=payers.release, batch=batch)
        batch.refresh_from_db()
    answered = False
    if not current and batch.status == PaymentBatch.Status.EXPORTED and batch.return_imported_at is None:
        if batch.lines.filter(status=PaymentLine.Status.PENDING).exists():
            bank_return_import(actor=payers.release, batch=batch, data=_answer_file(batch))
            answered = True
        # Failed lines are sent again with next month's batch (returned ones wait for the family).
        for line in batch.lines.filter(status=PaymentLine.Status.FAILED, reissue_requested=False).order_by("pk"):
            line_reissue(
                actor=payers.release, line=line, period=add_months(month, 1), reason="账户已解冻，下月重新发放"
            )
    batch.refresh_from_db()
    p = batch.period
    built, released = _at(p.replace(day=20), 9), _at(p.replace(day=21), 10)
    exported, returned = _at(p.replace(day=22), 10), _at(p.replace(day=26), 15)
    PaymentBatch.objects.filter(pk=batch.pk).update(
        created_at=built,
        built_at=built,
        released_at=released,
        exported_at=exported,
        return_imported_at=returned if batch.return_imported_at or answered else None,
        updated_at=returned if not current else exported,
    )
    PaymentReturn.objects.filter(line__batch=batch).update(imported_at=returned)
    result.batches += 1
    result.lines += batch.lines.count()
    result.failed += batch.lines.filter(status__in=[PaymentLine.Status.FAILED, PaymentLine.Status.RETURNED]).count()
    result.held += batch.lines.filter(status=PaymentLine.Status.HELD).count()
    return batch


def _create_entitlements(planned: list[Planned], month: dt.date, payers: dict[str, Payers]) -> int:
    """The month's decisions: entitlements decided in `month` that do not exist yet."""
    todo = [p for p in planned if p.decided == month]
    if not todo:
        return 0
    have = set(
        Entitlement.objects.filter(
            **{f"facts__{MARK}__isnull": False}, household_id__in={p.household_id for p in todo}
        ).values_list("household_id", "programme__code", "person_id")
    )
    programmes = {p.code: p for p in Programme.objects.filter(code__in={p.programme for p in todo})}
    households = Household.objects.in_bulk({p.household_id for p in todo})
    from ejia.registry.models import Person

    persons = Person.objects.in_bulk({p.person_id for p in todo if p.person_id})
    made = []
    for p in todo:
        if (p.household_id, p.programme, p.person_id) in have or p.programme not in programmes:
            continue
        late = p.start < p.decided
        made.append(
            entitlement_create(
                actor=payers[p.county_code].prepare,
                household=households[p.household_id],
                programme=programmes[p.programme],
                amount_fen=p.amount_fen,
                start_month=p.start,
                person=persons.get(p.person_id) if p.person_id else None,
                facts={MARK: period_label(month)},
                reason="演示历史：" + ("审批后补发此前月份" if late else "经审批开始享受"),
            ).pk
        )
    Entitlement.objects.filter(pk__in=made).update(
        created_at=_at(month.replace(day=10), 10), updated_at=_at(month.replace(day=10), 10)
    )
    return len(made)


def _end_entitlements(planned: list[Planned], month: dt.date, payers: dict[str, Payers]) -> int:
    ending = {(p.household_id, p.programme) for p in planned if p.ends == month}
    if not ending:
        return 0
    ended = 0
    for ent in (
        Entitlement.objects.filter(**{f"facts__{MARK}__isnull": False}, household_id__in={h for h, _ in ending})
        .exclude(status=Entitlement.Status.ENDED)
        .select_related("programme")
        .order_by("pk")
    ):
        if (ent.household_id, ent.programme.code) not in ending:
            continue
        entitlement_end(
            actor=payers[ent.county_code].prepare,
            entitlement=ent,
            from_month=month,
            reason="家庭成员就业，家庭人均收入超过低保标准（演示历史）",
        )
        Entitlement.objects.filter(pk=ent.pk).update(updated_at=_at(add_months(month, -1).replace(day=25), 10))
        ended += 1
    return ended


def _account_holders(planned: list[Planned], county_codes: list[str]) -> tuple[list[int], list[int]]:
    """Per county, two households paid all year lose their account: the first for two months
    (its held lines are re-issued once it is registered again), the second until now (its
    lines stay held, waiting on the batch pages)."""
    back, gone = [], []
    for code in county_codes:
        steady = sorted(
            {
                p.household_id
                for p in planned
                if p.county_code == code and p.programme == "dibao" and p.start == p.decided and p.ends is None
            }
        )
        back += steady[-2:-1]
        gone += steady[-1:]
    return back, gone


def _accounts(household_ids: list[int], *, close: bool, actor_of: Callable[[Household], User]) -> None:
    """Closed: the next batches hold the household's line (未登记银行账户). Registered again:
    its held lines are carried into the next batch as 重新发放."""
    for household in Household.objects.filter(pk__in=household_ids).select_related("division").order_by("pk"):
        if close and household.account_ciphertext:
            household_account_set(actor=actor_of(household), household=household, bank_name="", account_number="")
        elif not close and not household.account_ciphertext:
            head = household.current_memberships().order_by("relation", "pk").first()
            household_account_set(
                actor=actor_of(household),
                household=household,
                bank_name="滨州农商银行",
                account_number=f"62215{household.pk:014d}",
                holder=head.person if head else None,
            )


@dataclass
class HistoryResult:
    months: int = 0
    entitlements: int = 0
    ended: int = 0
    batches: int = 0
    lines: int = 0
    failed: int = 0
    held: int = 0
    cases: int = 0
    refreshed: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"+{self.entitlements} entitlements, {self.ended} ended, {self.batches} batches "
            f"({self.lines} lines, {self.failed} failed or returned, {self.held} held), +{self.cases} cases, "
            f"{self.refreshed} months refreshed ({self.seconds:.1f} s)"
        )


def demo_history_ensure(
    *,
    today: dt.date | None = None,
    county_codes: list[str] | None = None,
    cases_per_month: int = 3,
    log: Callable[[str], None] | None = None,
) -> HistoryResult:
    """Backfill the last twelve months (the current one included); see the module docstring."""
    started = time.monotonic()
    log = log or (lambda line: None)
    today = today or timezone.localdate()
    months = recent_months(today=today)
    if county_codes is None:
        county_codes = sorted(
            {code[:6] for code in Household.objects.values_list("division__code", flat=True).distinct()}
        )
    counties = list(Division.objects.filter(code__in=county_codes, level=Division.Level.COUNTY).order_by("code"))
    if not counties:
        log("  演示历史：没有登记户籍家庭的县（区），跳过")
        return HistoryResult()
    payers = {c.code: _payers(c) for c in counties}
    planned = plan_entitlements(months=months, county_codes=[c.code for c in counties])
    back, gone = _account_holders(planned, [c.code for c in counties])

    def actor_of(household: Household) -> User:
        return payers[household.division.code[:6]].prepare

    result = HistoryResult(months=len(months))
    month_result = MonthResult()

    def pay(month: dt.date) -> None:
        index = months.index(month)
        fresh = not PaymentBatch.objects.filter(county__in=counties, period=month).exists()
        result.entitlements += _create_entitlements(planned, month, payers)
        result.ended += _end_entitlements(planned, month, payers)
        # Closed before the batch of three months ago; registered again before last month's.
        if fresh and index == len(months) - 4:
            _accounts(back, close=True, actor_of=actor_of)
        if fresh and index == len(months) - 3:
            _accounts(gone, close=True, actor_of=actor_of)
        if fresh and index == len(months) - 2:
            _accounts(back, close=False, actor_of=actor_of)
        for county in counties:
            current = month == month_start(today)
            _county_month(county, month, payers[county.code], current=current, result=month_result)
        log(f"  {period_label(month)}：{month_result.batches} 个批次，累计 {month_result.lines} 笔")

    # Each month: its applications first (an approval becomes an entitlement), then its batches.
    result.cases = demo_history_cases(months=months, today=today, per_month=cases_per_month, log=log, after_month=pay)
    result.batches, result.lines = month_result.batches, month_result.lines
    result.failed, result.held = month_result.failed, month_result.held
    runs = refresh(months=months, trigger="demo")
    result.refreshed = sum(run.status == "done" for run in runs)
    result.seconds = time.monotonic() - started
    return result
