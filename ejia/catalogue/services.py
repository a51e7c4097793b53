"""Writes to the catalogue: programme texts, rule drafts, publication, standards.

Rules are checked when they are saved (a clerk sees “第1行第5列：未知的事实…” at once) and
the whole published set is compiled again when one is published, so a cycle between
programmes or a reference to a missing one never reaches a household.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.catalogue.models import Programme, ProgrammeVersion, Standard
from ejia.catalogue.search import search_text_for
from ejia.catalogue.selectors import engine_cache_clear, version_spec
from ejia.core.audit import audit_record
from ejia.rules import Engine, RuleError, check_expression
from ejia.rules.facts import STANDARD_KINDS

# Texts a department may edit on its programme; the code and department are fixed.
EDITABLE_FIELDS = (
    "name",
    "category",
    "target_groups",
    "benefit_form",
    "amount_period",
    "pay_from",
    "gradual_exit",
    "gradual_exit_months",
    "discovery_mode",
    "summary",
    "description",
    "how_much",
    "legal_basis",
    "materials",
    "unchecked_conditions",
    "contact_unit",
    "contact_phone",
    "keywords",
    "is_active",
    "sort_order",
)


def _clean_criteria(criteria: Any) -> list[dict[str, str]]:
    if not isinstance(criteria, list) or not criteria:
        raise ValidationError({"criteria": ["至少需要一条条件。"]})
    cleaned = []
    for i, item in enumerate(criteria, start=1):
        label = str((item or {}).get("label", "")).strip()
        expr = str((item or {}).get("expr", "")).strip()
        if not label or not expr:
            raise ValidationError({"criteria": [f"第{i}条条件：名称和表达式都不能为空。"]})
        cleaned.append({"label": label, "expr": expr})
    return cleaned


def rules_check(*, programme: Programme, criteria: list[dict[str, str]], amount_expr: str) -> None:
    """Type-check every criterion and the amount; ValidationError with the Chinese message
    and position of each problem."""
    codes = set(Programme.objects.values_list("code", flat=True))
    errors: dict[str, list[str]] = {}
    for i, item in enumerate(criteria, start=1):
        try:
            check_expression(item["expr"], target=programme.target, kind="criterion", programme_codes=codes)
        except RuleError as exc:
            errors.setdefault("criteria", []).append(f"第{i}条条件“{item['label']}”：{exc.message}")
    if amount_expr:
        try:
            check_expression(amount_expr, target=programme.target, kind="amount", programme_codes=codes)
        except RuleError as exc:
            errors.setdefault("amount_expr", []).append(f"金额公式：{exc.message}")
    if errors:
        raise ValidationError(errors)


def _programme_locked(programme: Programme) -> Programme:
    return Programme.objects.select_for_update().select_related("department").get(pk=programme.pk)


def _refresh_search_text(programme: Programme) -> None:
    latest = programme.versions.order_by("-number").filter(status=ProgrammeVersion.Status.PUBLISHED).first()
    labels = [c["label"] for c in latest.criteria] if latest else []
    programme.search_text = search_text_for(programme, labels)


@transaction.atomic
def programme_update(*, actor, programme: Programme, reason: str = "", **fields: Any) -> Programme:
    """Change a programme's descriptive texts (not its rules: those go through versions)."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"不能修改的字段：{', '.join(sorted(unknown))}")
    programme = _programme_locked(programme)
    changed = {}
    for name, value in fields.items():
        if getattr(programme, name) != value:
            changed[name] = value
            setattr(programme, name, value)
    if not changed:
        return programme
    programme.full_clean(exclude=["department"])
    _refresh_search_text(programme)
    programme.save(update_fields=[*changed, "search_text", "updated_at"])
    audit_record(actor=actor, action="catalogue.programme_update", obj=programme, reason=reason, data=changed)
    transaction.on_commit(engine_cache_clear)
    return programme


@transaction.atomic
def programme_draft_create(
    *,
    actor,
    programme: Programme,
    criteria: list[dict[str, str]],
    amount_expr: str = "",
    effective_from: dt.date,
    change_note: str = "",
) -> ProgrammeVersion:
    programme = _programme_locked(programme)
    criteria = _clean_criteria(criteria)
    amount_expr = (amount_expr or "").strip()
    rules_check(programme=programme, criteria=criteria, amount_expr=amount_expr)
    number = (programme.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = ProgrammeVersion(
        programme=programme,
        number=number,
        status=ProgrammeVersion.Status.DRAFT,
        criteria=criteria,
        amount_expr=amount_expr,
        effective_from=effective_from,
        created_by=actor if getattr(actor, "pk", None) else None,
        change_note=change_note,
    )
    version.full_clean()
    version.save()
    audit_record(
        actor=actor,
        action="catalogue.version_draft_create",
        obj=version,
        data={"programme": programme.code, "number": number, "effective_from": effective_from.isoformat()},
    )
    return version


def _version_locked(version: ProgrammeVersion) -> ProgrammeVersion:
    # Lock order: programme, then version (as in draft creation and publication).
    Programme.objects.select_for_update().filter(pk=version.programme_id).first()
    return ProgrammeVersion.objects.select_for_update().select_related("programme__department").get(pk=version.pk)


@transaction.atomic
def programme_draft_update(
    *,
    actor,
    version: ProgrammeVersion,
    criteria: list[dict[str, str]] | None = None,
    amount_expr: str | None = None,
    effective_from: dt.date | None = None,
    change_note: str | None = None,
) -> ProgrammeVersion:
    version = _version_locked(version)
    if version.is_published:
        raise ValidationError("已发布的版本不能修改，请新建版本。")
    if criteria is not None:
        version.criteria = _clean_criteria(criteria)
    if amount_expr is not None:
        version.amount_expr = amount_expr.strip()
    if effective_from is not None:
        version.effective_from = effective_from
    if change_note is not None:
        version.change_note = change_note
    rules_check(programme=version.programme, criteria=version.criteria, amount_expr=version.amount_expr)
    version.full_clean()
    version.save(update_fields=["criteria", "amount_expr", "effective_from", "change_note", "updated_at"])
    audit_record(
        actor=actor,
        action="catalogue.version_draft_update",
        obj=version,
        data={"programme": version.programme.code, "number": version.number},
    )
    return version


def _published_heads() -> dict[str, ProgrammeVersion]:
    """The newest published version of every active programme, whatever its date."""
    heads: dict[str, ProgrammeVersion] = {}
    versions = (
        ProgrammeVersion.objects.filter(status=ProgrammeVersion.Status.PUBLISHED, programme__is_active=True)
        .select_related("programme__department")
        .order_by("programme__sort_order", "programme__code", "-effective_from", "-number")
    )
    for version in versions:
        heads.setdefault(version.programme.code, version)
    return heads


@transaction.atomic
def programme_version_publish(*, actor, version: ProgrammeVersion, reason: str = "") -> ProgrammeVersion:
    """Publish a draft. The whole published set, with this version in place of its
    programme's, must compile together: unknown references and cycles are refused."""
    version = _version_locked(version)
    if version.is_published:
        raise ValidationError("该版本已发布，不能再次发布或修改。")
    programme = version.programme
    rules_check(programme=programme, criteria=version.criteria, amount_expr=version.amount_expr)
    heads = _published_heads()
    heads[programme.code] = version
    specs = [version_spec(v.programme, v) for v in heads.values()]
    try:
        Engine(specs)
    except RuleError as exc:
        raise ValidationError(f"发布后规则集无法通过校验：{exc}") from None
    version.status = ProgrammeVersion.Status.PUBLISHED
    version.published_at = timezone.now()
    version.published_by = actor if getattr(actor, "pk", None) else None
    version.save(update_fields=["status", "published_at", "published_by", "updated_at"])
    programme.search_text = search_text_for(programme, [c["label"] for c in version.criteria])
    programme.save(update_fields=["search_text", "updated_at"])
    audit_record(
        actor=actor,
        action="catalogue.version_publish",
        obj=version,
        reason=reason,
        data={
            "programme": programme.code,
            "number": version.number,
            "effective_from": version.effective_from.isoformat(),
        },
    )
    transaction.on_commit(engine_cache_clear)
    return version


@transaction.atomic
def standard_set(
    *,
    actor,
    kind: str,
    division: Division,
    urban: bool | None,
    amount_fen: int,
    effective_from: dt.date,
    effective_to: dt.date | None = None,
    note: str = "",
    reason: str = "",
) -> Standard:
    """Set a standard from a date on. The standard it replaces (same kind, division and
    urban/rural) ends the day before; one already starting that day is corrected."""
    if kind not in STANDARD_KINDS:
        raise ValidationError({"kind": [f"未知的救助标准种类“{kind}”。"]})
    if division.level not in (Division.Level.CITY, Division.Level.COUNTY):
        raise ValidationError({"division": ["救助标准只能由市或县（市、区）设定。"]})
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen < 0:
        raise ValidationError({"amount_fen": ["金额必须是不小于零的整数（分）。"]})
    if effective_to is not None and effective_to < effective_from:
        raise ValidationError({"effective_to": ["截止日期不能早于起始日期。"]})
    same = Standard.objects.select_for_update().filter(kind=kind, division=division)
    same = same.filter(urban__isnull=True) if urban is None else same.filter(urban=urban)
    rows = list(same.order_by("effective_from"))
    later = [r for r in rows if r.effective_from > effective_from]
    if effective_to is None and later:
        effective_to = later[0].effective_from - dt.timedelta(days=1)
    standard = next((r for r in rows if r.effective_from == effective_from), None)
    previous = [r for r in rows if r.effective_from < effective_from]
    if previous and (previous[-1].effective_to is None or previous[-1].effective_to >= effective_from):
        closing = previous[-1]
        closing.effective_to = effective_from - dt.timedelta(days=1)
        closing.save(update_fields=["effective_to", "updated_at"])
    before = None
    if standard is None:
        standard = Standard(kind=kind, division=division, urban=urban, effective_from=effective_from)
    else:
        before = standard.amount_fen
    standard.amount_fen = amount_fen
    standard.effective_to = effective_to
    standard.note = note
    standard.full_clean()
    standard.save()
    audit_record(
        actor=actor,
        action="catalogue.standard_set",
        obj=standard,
        reason=reason,
        data={
            "kind": kind,
            "division": division.code,
            "urban": urban,
            "amount_fen": amount_fen,
            "previous_amount_fen": before,
            "effective_from": effective_from.isoformat(),
            "effective_to": effective_to.isoformat() if effective_to else None,
        },
    )
    return standard


# ---------------------------------------------------------------- combination rules


def combination_rules_check(*, programme: Programme, rows: list[dict[str, str]]) -> list:
    """The programme's combination rules as typed, checked together with every other
    programme's: raises ValidationError with the Chinese reason (a cycle, a contradiction, an
    unknown programme). Returns the rules as `Combination`s."""
    from ejia.catalogue.combinations import Combination, CombinationError, check_combinations
    from ejia.catalogue.models import CombinationRule

    names = dict(Programme.objects.values_list("code", "name"))
    mine = [
        Combination(programme.code, r["kind"], r["other"], r.get("scope") or "person", (r.get("note") or "").strip())
        for r in rows
        if r.get("other")
    ]
    others = [
        Combination(p, k, o, s, n)
        for p, k, o, s, n in CombinationRule.objects.exclude(programme=programme).values_list(
            "programme__code", "kind", "other__code", "scope", "note"
        )
    ]
    try:
        check_combinations(others + mine, names)
    except CombinationError as exc:
        raise ValidationError(exc.message) from None
    return mine


def combination_rules_set(*, actor, programme: Programme, rows: list[dict[str, str]]) -> list:
    """Replace the programme's combination rules (excludes / takes precedence / requires),
    checked with everyone else's. Every programme row is locked first, in one order, so that
    two departments saving at once cannot make a cycle between them."""
    from ejia.catalogue.models import CombinationRule

    with transaction.atomic():
        list(Programme.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
        mine = combination_rules_check(programme=programme, rows=rows)
        by_code = {p.code: p for p in Programme.objects.filter(code__in=[r.other for r in mine])}
        CombinationRule.objects.filter(programme=programme).delete()
        created = CombinationRule.objects.bulk_create(
            [
                CombinationRule(programme=programme, kind=r.kind, other=by_code[r.other], scope=r.scope, note=r.note)
                for r in mine
            ]
        )
        audit_record(
            actor=actor,
            action="catalogue.combination_rules_set",
            obj=programme,
            data={"rules": [[r.kind, r.other, r.scope, r.note] for r in mine]},
        )
    return created
