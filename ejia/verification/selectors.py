"""Reads for the exchange pages. Department data is city-wide: the access policy's
EXCHANGE_OPERATE capability is the scope (checked here and declared on the views)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404

from ejia.accounts.policies import Capability, require
from ejia.core.audit import audit_record
from ejia.core.idnumber import mask_in_text
from ejia.core.money import format_fen
from ejia.registry.models import Relation
from ejia.rules.facts import FACTS
from ejia.verification.models import (
    CheckSource,
    DataSource,
    RejectedRow,
    SourceKind,
    SourceSnapshot,
    VerificationCheck,
)


def require_operator(user) -> None:
    require(user, Capability.EXCHANGE_OPERATE)


@dataclass
class SourceRow:
    source: DataSource
    committed: SourceSnapshot | None
    pending: SourceSnapshot | None


def sources_overview(*, user) -> list[SourceRow]:
    require_operator(user)
    committed = SourceSnapshot.objects.filter(status=SourceSnapshot.Status.COMMITTED)
    sources = DataSource.objects.prefetch_related(Prefetch("snapshots", queryset=committed, to_attr="current"))
    previews = {}
    in_hand = (SourceSnapshot.Status.ANALYSING, SourceSnapshot.Status.PREVIEW, SourceSnapshot.Status.COMMITTING)
    for snap in SourceSnapshot.objects.filter(status__in=in_hand).order_by("created_at"):
        previews[snap.source_id] = snap
    return [SourceRow(s, (s.current or [None])[0], previews.get(s.pk)) for s in sources]


def source_get_for_user(*, user, code: str) -> DataSource:
    require_operator(user)
    source = DataSource.objects.filter(code=code).first()
    if source is None:
        raise Http404("没有这个数据源。")
    return source


def snapshot_get_for_user(*, user, public_id) -> SourceSnapshot:
    require_operator(user)
    snapshot = (
        SourceSnapshot.objects.select_related("source", "created_by", "committed_by")
        .filter(public_id=public_id)
        .first()
    )
    if snapshot is None:
        raise Http404("没有这个数据批次。")
    return snapshot


def rejected_rows_page(*, snapshot: SourceSnapshot, limit: int = 200) -> list[RejectedRow]:
    return list(RejectedRow.objects.filter(snapshot=snapshot).order_by("row_number")[:limit])


def snapshot_history(*, source: DataSource, limit: int = 10) -> list[SourceSnapshot]:
    return list(source.snapshots.select_related("created_by").order_by("-created_at")[:limit])


# ---- The 一键核对 report: what each department said, grouped for people to read ----
#
# Scope is the caller's: the case side reaches a check only through a case the viewer may
# open. Every rendered report is audited (`check_report_viewed`): it shows a household's
# deposits, property and health spending (PIPL Art. 28).

REPORT_ACTIONS = {"page": "verification.report_view", "pdf": "verification.report_pdf"}


def check_report_viewed(*, user, check: VerificationCheck, kind: str = "page") -> None:
    """Log that `user` saw the report of `check` (kind "page" or "pdf")."""
    with transaction.atomic():
        audit_record(
            actor=user,
            action=REPORT_ACTIONS[kind],
            obj=check,
            reason=check.reason,
            data={"reference": check.reference, "status": check.status, "members": len(check.members)},
        )


def check_source_of(*, check: VerificationCheck, pk: int) -> CheckSource:
    """One source row of this check; 404 for a row of any other check."""
    row = CheckSource.objects.select_related("source").filter(verification=check, pk=pk).first()
    if row is None:
        raise Http404("该核对中没有这个数据源。")
    return row


def difference_lines(differences: list[dict] | None) -> list[dict]:
    """Declared-versus-verified differences (as `findings.differences` writes them) with their
    values as people read them, for a page or a PDF."""
    return [
        {
            **d,
            "declared_text": fact_text(d["fact"], d.get("declared")),
            "verified_text": fact_text(d["fact"], d.get("verified")),
            "sources_text": "、".join(d.get("sources") or []),
        }
        for d in differences or []
    ]


def fact_text(name: str, value) -> str:
    """A fact's value as people read it: money in yuan with its period, counts with units."""
    if value is None or value == "":
        return "—"
    fact = FACTS.get(name)
    if fact is None:
        return str(value)
    if fact.type == "bool":
        return "是" if value else "否"
    if fact.type == "enum":
        return fact.choice_label(str(value))
    if fact.type == "money":
        try:
            return format_fen(int(value)) + fact.unit.removeprefix("元")
        except (TypeError, ValueError):
            return str(value)
    if name == "disability_grade" and str(value) in ("0", ""):
        return "无残疾人证"
    return f"{value}{fact.unit}"


@dataclass
class FactLine:
    name: str
    label: str
    value: str
    sources: str
    as_of: str
    note: str


@dataclass
class FindingGroup:
    """One kind of department record for one member, as a small table."""

    kind: str
    title: str
    source: str
    columns: list[str]
    rows: list[list[str]]
    summary: str = ""
    collapsed: bool = False  # long lists (medical visits) open on demand


@dataclass
class MemberReport:
    person: str
    name: str
    masked_id: str
    relation: str
    groups: list[FindingGroup] = field(default_factory=list)
    nothing_found: list[str] = field(default_factory=list)  # answered, no record
    failed: list[str] = field(default_factory=list)  # not asked successfully: unknown, never "nothing"
    waiting: list[str] = field(default_factory=list)
    facts: list[FactLine] = field(default_factory=list)


@dataclass
class SourceLine:
    row: CheckSource
    found: int


@dataclass
class CheckReport:
    check: VerificationCheck
    sources: list[SourceLine]
    members: list[MemberReport]
    household_facts: list[FactLine]
    differences: list[dict]
    unverified: list[dict]

    @property
    def failed_sources(self) -> list[SourceLine]:
        return [s for s in self.sources if s.row.status == CheckSource.Status.FAILED]

    @property
    def open_sources(self) -> int:
        return sum(1 for s in self.sources if s.row.is_open)


def _fact_lines(facts: dict) -> list[FactLine]:
    lines = []
    for name, prov in facts.items():
        fact = FACTS.get(name)
        lines.append(
            FactLine(
                name=name,
                label=fact.label if fact else name,
                value=fact_text(name, prov.get("value")),
                sources="、".join(prov.get("source_names") or prov.get("sources") or []),
                as_of=prov.get("as_of") or "",
                note=prov.get("note") or "",
            )
        )
    return lines


def _code_labels(source: DataSource) -> dict[str, dict[str, str]]:
    """field → {stored code: the department's label} for columns whose codes are mapped."""
    labels = {}
    for column in source.columns:
        codes = column.get("codes")
        if isinstance(codes, dict):
            labels[column["field"]] = {str(code): label for label, code in codes.items()}
    return labels


def _money(record: dict, name: str, suffix: str = "") -> str:
    value = record.get(name)
    if value in (None, ""):
        return "—"
    try:
        return format_fen(int(value)) + suffix
    except (TypeError, ValueError):
        return str(value)


def _fen_sum(records: list[dict], name: str) -> int:
    total = 0
    for r in records:
        try:
            total += int(r.get(name) or 0)
        except (TypeError, ValueError):
            continue
    return total


def _cell(record: dict, name: str, labels: dict[str, dict[str, str]], suffix: str = "") -> str:
    value = record.get(name)
    if value in (None, ""):
        return "—"
    text = labels.get(name, {}).get(str(value), str(value))
    return mask_in_text(f"{text}{suffix}")  # a stray ID number in a department's free text stays masked


def _income_rows(kind: str, records: list[dict], labels) -> list[list[str]]:
    rows = []
    for r in records:
        if kind == SourceKind.TAX:
            period = str(r.get("period") or "")
            annual = "年" in period or len(period) == 4
            item = "年收入（工资薪金、经营所得等）" if annual else "收入（工资薪金、经营所得等）"
            rows.append([item, _cell(r, "period", labels), _money(r, "income_fen", "/年" if annual else "")])
        elif kind == SourceKind.SOCIAL_INSURANCE and r.get("pension_month_fen") not in (None, "", 0):
            detail = f"{_cell(r, 'insurance_type', labels)}，{_cell(r, 'status', labels)}"
            rows.append(["月养老金", detail, _money(r, "pension_month_fen", "/月")])
        elif kind == SourceKind.UNEMPLOYMENT:
            detail = f"{_cell(r, 'registered_on', labels)}失业登记，{_cell(r, 'status', labels)}"
            rows.append(["失业保险金", detail, _money(r, "benefit_month_fen", "/月")])
    return rows


# kind → (title, columns, one row per record); income is gathered from three sources apart.
_TABLES: dict[str, tuple[str, list[str], Callable[[dict, dict], list[str]]]] = {
    SourceKind.DEPOSIT: (
        "存款及理财",
        ["银行", "账号", "账户类型", "余额", "余额日期"],
        lambda r, lb: [
            _cell(r, "bank", lb),
            _cell(r, "account", lb),
            _cell(r, "account_type", lb),
            _money(r, "balance_fen"),
            _cell(r, "as_of", lb),
        ],
    ),
    SourceKind.VEHICLE: (
        "机动车",
        ["号牌号码", "号牌种类", "车辆类型", "车辆价值", "状态"],
        lambda r, lb: [
            _cell(r, "plate", lb),
            _cell(r, "plate_kind", lb),
            _cell(r, "vehicle_type", lb),
            _money(r, "value_fen"),
            _cell(r, "status", lb),
        ],
    ),
    SourceKind.REAL_ESTATE: (
        "不动产",
        ["不动产权证号", "坐落", "建筑面积", "规划用途", "登记日期"],
        lambda r, lb: [
            _cell(r, "certificate_no", lb),
            _cell(r, "location", lb),
            _cell(r, "area_m2", lb, "平方米"),
            _cell(r, "use", lb),
            _cell(r, "registered_on", lb),
        ],
    ),
    SourceKind.BUSINESS: (
        "市场主体",
        ["名称", "主体类型", "登记状态", "成立日期", "注册资本"],
        lambda r, lb: [
            _cell(r, "business_name", lb),
            _cell(r, "business_type", lb),
            _cell(r, "status", lb),
            _cell(r, "founded_on", lb),
            _cell(r, "capital_wan", lb, "万元"),
        ],
    ),
    SourceKind.SOCIAL_INSURANCE: (
        "社会保险",
        ["险种", "参保状态", "单位", "缴费基数", "月养老金"],
        lambda r, lb: [
            _cell(r, "insurance_type", lb),
            _cell(r, "status", lb),
            _cell(r, "employer", lb),
            _money(r, "contribution_base_fen"),
            _money(r, "pension_month_fen"),
        ],
    ),
    SourceKind.PROVIDENT_FUND: (
        "住房公积金",
        ["账号", "单位", "月缴存额", "账户余额", "账户状态"],
        lambda r, lb: [
            _cell(r, "account", lb),
            _cell(r, "employer", lb),
            _money(r, "monthly_fen"),
            _money(r, "balance_fen"),
            _cell(r, "status", lb),
        ],
    ),
    SourceKind.MEDICAL: (
        "医疗费用",
        ["就诊日期", "医疗机构", "就诊类型", "医疗总费用", "个人自付"],
        lambda r, lb: [
            _cell(r, "visit_date", lb),
            _cell(r, "institution", lb),
            _cell(r, "visit_type", lb),
            _money(r, "total_fen"),
            _money(r, "out_of_pocket_fen"),
        ],
    ),
    SourceKind.DISABILITY: (
        "残疾人证",
        ["残疾证号", "残疾类别", "残疾等级", "发证日期"],
        lambda r, lb: [
            _cell(r, "certificate_no", lb),
            _cell(r, "disability_kind", lb),
            _cell(r, "disability_grade", lb),
            _cell(r, "issued_on", lb),
        ],
    ),
    SourceKind.CIVIL: (
        "婚姻及死亡登记",
        ["事件", "日期", "登记机关"],
        lambda r, lb: [_cell(r, "event", lb), _cell(r, "event_date", lb), _cell(r, "office", lb)],
    ),
    SourceKind.POPULATION: (
        "户籍信息",
        ["户号", "与户主关系", "户籍地址", "人员状态"],
        lambda r, lb: [
            _cell(r, "household_no", lb),
            _cell(r, "relation", lb),
            _cell(r, "address", lb),
            _cell(r, "status", lb),
        ],
    ),
}
_INCOME_KINDS = (SourceKind.TAX, SourceKind.SOCIAL_INSURANCE, SourceKind.UNEMPLOYMENT)


def _member_groups(person: str, rows: list[CheckSource]) -> list[FindingGroup]:
    done = [r for r in rows if r.status == CheckSource.Status.DONE]
    groups: list[FindingGroup] = []
    income_rows, income_sources = [], []
    for row in done:
        if row.source.kind in _INCOME_KINDS:
            found = _income_rows(row.source.kind, row.findings.get(person) or [], _code_labels(row.source))
            if found:
                income_rows += found
                income_sources.append(row.source.name)
    if income_rows:
        groups.append(
            FindingGroup("income", "收入", "、".join(income_sources), ["项目", "期间或状态", "金额"], income_rows)
        )
    for row in done:
        records = row.findings.get(person) or []
        spec = _TABLES.get(row.source.kind)
        if not records or spec is None:
            continue
        title, columns, make = spec
        labels = _code_labels(row.source)
        group = FindingGroup(row.source.kind, title, row.source.name, columns, [make(r, labels) for r in records])
        if row.source.kind == SourceKind.DEPOSIT:
            group.summary = f"共 {len(records)} 个账户，余额合计 {format_fen(_fen_sum(records, 'balance_fen'))}"
        elif row.source.kind == SourceKind.MEDICAL:
            group.summary = (
                f"就诊 {len(records)} 次，医疗总费用 {format_fen(_fen_sum(records, 'total_fen'))}，"
                f"个人自付 {format_fen(_fen_sum(records, 'out_of_pocket_fen'))}"
            )
            group.collapsed = True
        groups.append(group)
    return groups


def check_report(check: VerificationCheck) -> CheckReport:
    """Everything the report page and the printed report show, from one read of the check."""
    rows = list(check.sources.select_related("source"))
    relations = dict(Relation.choices)
    members = []
    facts = check.facts or {}
    for m in check.members:
        person = m["person"]
        report = MemberReport(
            person=person,
            name=m.get("name", ""),
            masked_id=m.get("masked_id", ""),
            relation=str(relations.get(m.get("relation", ""), m.get("relation", ""))),
            groups=_member_groups(person, rows),
            facts=_fact_lines((facts.get("members") or {}).get(person) or {}),
        )
        for row in rows:
            if row.status == CheckSource.Status.FAILED:
                report.failed.append(row.source.name)
            elif row.is_open:
                report.waiting.append(row.source.name)
            elif not row.findings.get(person):
                report.nothing_found.append(row.source.name)
        members.append(report)
    differences = difference_lines(check.differences)
    return CheckReport(
        check=check,
        sources=[SourceLine(row, sum(len(v) for v in (row.findings or {}).values())) for row in rows],
        members=members,
        household_facts=_fact_lines(facts.get("household") or {}),
        differences=differences,
        unverified=list(facts.get("unverified") or []),
    )
