"""Summary part "data": one-click checks, department files and 主动发现 / 动态管理 of one month.

- CheckMonthly: checks finished in the month (VerificationCheck.finished_at, Asia/Shanghai), by
  the household's village. The row with no source (`source_code=""`) counts checks: with a
  difference from what the family declared, and partial (a source could not answer). The row of
  a source (townships and above only) counts the checks that asked it, those whose differences
  it proved and those it failed to answer.
- ImportMonthly: department files by the month they were committed (committed_at; a file later
  superseded still counts in its own month) or refused (a refused file keeps the moment of
  refusal in updated_at); rows of committed files only, so accepted + rejected = rows.
- DiscoveryMonthly: leads by the lead's area (a village, or the township for a grid worker's
  report without a village): created, closed by a visit outcome, closed as "application
  started", and grid workers' reports; 动态管理 alerts raised and confirmed, by the household's
  village.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.db import models
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from ejia.accounts.models import Department
from ejia.dashboards.models import CheckMonthly, DiscoveryMonthly, ImportMonthly
from ejia.dashboards.refresh import AreaTree, Part, Values, area_rows, register
from ejia.disbursement.models import DynamicAlert, add_months
from ejia.discovery.models import Lead, LeadStatus
from ejia.verification.models import CheckSource, CheckStatus, DataSource, SourceSnapshot, VerificationCheck

# The outcomes a visit records (lead_close); LAPSED is the scan's own closing, not a visit.
VISIT_OUTCOMES = (LeadStatus.APPLIED, LeadStatus.DECLINED, LeadStatus.NOT_ELIGIBLE)


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The month as [start, end) aware datetimes of the project's time zone (Asia/Shanghai)."""
    start = timezone.make_aware(dt.datetime.combine(month, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(add_months(month, 1), dt.time.min))
    return start, end


def provider_code(source_code: str, department: str, departments: dict[str, str]) -> str:
    """The code a data source's department is filed under: the programme unit's own code when the
    provider is one of the 17 units (so its staff see their files), otherwise the prefix of the
    source code, which names the provider (gongan_*, sw_*, bdc_* …)."""
    return departments.get(department) or source_code.split("_", 1)[0]


def _checks(month: dt.date, tree: AreaTree) -> list[models.Model]:
    start, end = month_bounds(month)
    finished = Q(finished_at__gte=start, finished_at__lt=end) & ~Q(status=CheckStatus.RUNNING)
    checks = VerificationCheck.objects.filter(finished)
    rows: list[tuple[str, tuple, Values]] = []
    for r in (
        checks.values(village=F("household__division__code"))
        .annotate(
            checks=Count("id"),
            with_differences=Count("id", filter=~Q(differences=[])),
            failed=Count("id", filter=Q(status=CheckStatus.PARTIAL)),
        )
        .order_by()
    ):
        rows.append((r["village"], ("",), {k: r[k] for k in ("checks", "with_differences", "failed")}))
    # By source from the township up: a village sees a check or two a month, and thirteen rows per
    # village and month would make this the largest summary of all for figures nobody can read.
    township = tree.parent.get
    asked = CheckSource.objects.filter(verification__in=checks)
    for r in (
        asked.values(village=F("verification__household__division__code"), code=F("source__code"))
        .annotate(checks=Count("id"), failed=Count("id", filter=Q(status=CheckSource.Status.FAILED)))
        .order_by()
    ):
        rows.append((township(r["village"], ""), (r["code"],), {"checks": r["checks"], "failed": r["failed"]}))
    # A difference names the sources that proved the verified value by their names, inside the
    # check's JSON list; SQLite and PostgreSQL share no way to unnest it, so the lists of the
    # month's checks *with* differences are read (one query) and counted once per check and source.
    code_of = dict(DataSource.objects.values_list("name", "code"))
    proved: Counter[tuple[str, str]] = Counter()
    for village, differences in (
        checks.exclude(differences=[]).values_list("household__division__code", "differences").iterator(2000)
    ):
        names = {name for d in differences or [] for name in d.get("sources") or []}
        for code in {code_of[n] for n in names if n in code_of}:
            proved[(township(village, ""), code)] += 1
    rows += [(village, (code,), {"with_differences": n}) for (village, code), n in proved.items()]
    return area_rows(CheckMonthly, month=month, tree=tree, rows=rows, dims=("source_code",))


def _imports(month: dt.date) -> list[models.Model]:
    start, end = month_bounds(month)
    departments = dict(Department.objects.values_list("name", "code"))
    keys = {"code": F("source__code"), "department": F("source__department")}
    acc: dict[tuple[str, str], dict[str, int]] = {}

    def add(r: dict, values: dict[str, int]) -> None:
        key = (provider_code(r["code"], r["department"], departments), r["code"])
        have = acc.setdefault(key, dict.fromkeys(("files", "refused_files", "rows", "accepted", "rejected"), 0))
        for field, value in values.items():
            have[field] += value or 0

    committed = SourceSnapshot.objects.filter(committed_at__gte=start, committed_at__lt=end)
    for r in (
        committed.values(**keys)
        .annotate(
            files=Count("id"),
            rows=Sum("rows_total", default=0),
            accepted=Sum("rows_accepted", default=0),
            rejected=Sum("rows_rejected", default=0),
        )
        .order_by()
    ):
        add(r, {k: r[k] for k in ("files", "rows", "accepted", "rejected")})
    refused = SourceSnapshot.objects.filter(
        status=SourceSnapshot.Status.REFUSED, updated_at__gte=start, updated_at__lt=end
    )
    for r in refused.values(**keys).annotate(refused_files=Count("id")).order_by():
        add(r, {"refused_files": r["refused_files"]})
    return [
        ImportMonthly(month=month, department_code=dept, source_code=code, **values)
        for (dept, code), values in acc.items()
    ]


def _discovery(month: dt.date, tree: AreaTree) -> list[models.Model]:
    start, end = month_bounds(month)
    rows: list[tuple[str, tuple, Values]] = []
    found = Lead.objects.filter(created_at__gte=start, created_at__lt=end)
    for r in (
        found.values(area=F("division__code"))
        .annotate(leads_found=Count("id"), reports=Count("id", filter=Q(source=Lead.Source.REPORT)))
        .order_by()
    ):
        rows.append((r["area"], (), {"leads_found": r["leads_found"], "reports": r["reports"]}))
    visited = Lead.objects.filter(closed_at__gte=start, closed_at__lt=end, status__in=VISIT_OUTCOMES)
    for r in (
        visited.values(area=F("division__code"))
        .annotate(leads_visited=Count("id"), leads_applied=Count("id", filter=Q(status=LeadStatus.APPLIED)))
        .order_by()
    ):
        rows.append((r["area"], (), {"leads_visited": r["leads_visited"], "leads_applied": r["leads_applied"]}))
    raised = DynamicAlert.objects.filter(created_at__gte=start, created_at__lt=end)
    for r in raised.values(area=F("household__division__code")).annotate(n=Count("id")).order_by():
        rows.append((r["area"], (), {"alerts_raised": r["n"]}))
    confirmed = DynamicAlert.objects.filter(
        status=DynamicAlert.Status.CONFIRMED, handled_at__gte=start, handled_at__lt=end
    )
    for r in confirmed.values(area=F("household__division__code")).annotate(n=Count("id")).order_by():
        rows.append((r["area"], (), {"alerts_confirmed": r["n"]}))
    return area_rows(DiscoveryMonthly, month=month, tree=tree, rows=rows, dims=())


def build(month: dt.date, tree: AreaTree) -> list[models.Model]:
    return [*_checks(month, tree), *_imports(month), *_discovery(month, tree)]


register(Part("data", (CheckMonthly, ImportMonthly, DiscoveryMonthly), build))
