"""Reads of the dashboards: which area and months a viewer asked for and may see (the access
policy's DASHBOARD_READ: the unit's subtree; a department's staff see only their department's
programmes), then one `Section` per topic built from the summary tables only."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from ejia.accounts.models import Department, Division
from ejia.accounts.policies import Capability, Reach, require
from ejia.accounts.scope import scope_for
from ejia.dashboards.models import RefreshRun
from ejia.dashboards.types import Crumb, Dashboard, Section
from ejia.disbursement.models import add_months

CHILD_LEVEL = {"city": "county", "county": "township", "township": "village", "village": ""}
MAX_MONTHS = 36
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


class RangeError(ValueError):
    """A date range the page cannot show; the message is for the reader."""


@dataclass(frozen=True)
class Query:
    """What one section builder needs: the area, its children, the months and the department
    filter ("" = every department)."""

    area: Crumb
    level: str
    child_level: str
    children: tuple[Crumb, ...]
    months: tuple[dt.date, ...]
    department_code: str = ""
    department_name: str = ""

    @property
    def first_month(self) -> dt.date:
        return self.months[0]

    @property
    def last_month(self) -> dt.date:
        return self.months[-1]

    @property
    def month_labels(self) -> tuple[str, ...]:
        return tuple(f"{m.year}年{m.month}月" for m in self.months)

    def child_name(self, code: str) -> str:
        for child in self.children:
            if child.code == code:
                return child.name
        return code


def parse_month(text: str | None) -> dt.date | None:
    if not text:
        return None
    match = MONTH_RE.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise RangeError(_("月份“%(text)s”的格式不对，请写成 2026-05 这样的年-月。") % {"text": text[:20]})
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def month_range(*, start: str | None, end: str | None, today: dt.date) -> tuple[dt.date, ...]:
    """The months from `start` to `end` (YYYY-MM); by default the twelve months up to this one."""
    current = today.replace(day=1)
    last = parse_month(end) or current
    first = parse_month(start) or add_months(last, -11)
    if last > current:
        raise RangeError(_("结束月份不能晚于本月。"))
    if first > last:
        raise RangeError(_("开始月份不能晚于结束月份。"))
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    if len(months) > MAX_MONTHS:
        raise RangeError(_("一次最多查看 %(n)d 个月，请缩短时间范围。") % {"n": MAX_MONTHS})
    return tuple(months)


def home_division(user) -> Division:
    scope = scope_for(user)
    code = scope.division_path.rstrip("/").rsplit("/", 1)[-1]
    return Division.objects.get(code=code)


def query_for(user, *, area_code: str | None, start: str | None, end: str | None, today: dt.date) -> Query:
    """The viewer's query, refused (PermissionDenied, in plain words) outside their area."""
    reach = require(user, Capability.DASHBOARD_READ)
    scope = scope_for(user)
    home = home_division(user)
    if area_code and area_code != home.code:
        area = Division.objects.filter(code=area_code).first()
        if area is None or not area.path.startswith(scope.division_path):
            raise PermissionDenied(
                _("您只能查看%(area)s及下辖区域的统计，所选区域不在范围内。") % {"area": scope.division_name}
            )
    else:
        area = home
    department_code = department_name = ""
    if reach == Reach.DEPARTMENT:
        department = Department.objects.get(pk=scope.department_id)
        department_code, department_name = department.code, department.name
    children = tuple(
        Crumb(code, name)
        for code, name in Division.objects.filter(parent=area).order_by("code").values_list("code", "name")
    )
    return Query(
        area=Crumb(area.code, area.full_name),
        level=area.level,
        child_level=CHILD_LEVEL.get(area.level, ""),
        children=children,
        months=month_range(start=start, end=end, today=today),
        department_code=department_code,
        department_name=department_name,
    )


def breadcrumbs(user, area_code: str) -> tuple[Crumb, ...]:
    """From the viewer's own area down to `area_code` (what the viewer may click back to)."""
    home = home_division(user)
    area = Division.objects.select_related("parent").get(code=area_code)
    chain = []
    while area is not None:
        chain.append(Crumb(area.code, area.name))
        if area.code == home.code:
            break
        area = area.parent
    return tuple(reversed(chain))


def last_refresh() -> RefreshRun | None:
    return RefreshRun.objects.filter(status=RefreshRun.Status.DONE).order_by("-finished_at").first()


def failed_refreshes():
    """Failed refreshes of a month that no later refresh of the same month repaired (the
    nightly run catches up): one month that fails while the others pass is still shown."""
    repaired = RefreshRun.objects.filter(
        month=OuterRef("month"), status=RefreshRun.Status.DONE, started_at__gt=OuterRef("started_at")
    )
    return RefreshRun.objects.filter(status=RefreshRun.Status.FAILED).exclude(Exists(repaired))


def dashboard(user, *, area_code: str | None, start: str | None, end: str | None, today: dt.date) -> Dashboard:
    from ejia.dashboards.sections import build_sections

    q = query_for(user, area_code=area_code, start=start, end=end, today=today)
    last = last_refresh()
    failed = failed_refreshes()
    sections: tuple[Section, ...] = build_sections(q)
    return Dashboard(
        area_code=q.area.code,
        area_name=q.area.name,
        level=q.level,
        child_level=q.child_level,
        start_month=q.first_month,
        end_month=q.last_month,
        months=q.months,
        department=q.department_name,
        breadcrumbs=breadcrumbs(user, q.area.code),
        sections=sections,
        refreshed_at=last.finished_at if last else None,
        failed_refreshes=failed.order_by().values("month").distinct().count(),
    )
