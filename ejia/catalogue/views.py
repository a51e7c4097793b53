"""Department editing of the catalogue (部门维护本部门项目), under /staff/catalogue/.

A catalogue editor maintains the programmes of the department of their unit; a centre
director sees every department. Texts change in place (audited); rules change only through
a new version with an effective date, checked by the rule engine as they are typed, with a
live count of the households that would qualify under the draft and under the version in
force.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ejia.accounts.models import Department
from ejia.accounts.policies import Capability, Reach, require, staff_view
from ejia.catalogue import selectors, services
from ejia.catalogue.forms import (
    CombinationFormSet,
    CriterionFormSet,
    ProgrammeTextForm,
    RulesForm,
    combination_rows,
    criteria_from,
    criteria_from_post,
)
from ejia.catalogue.models import CombinationRule, Programme, ProgrammeVersion
from ejia.rules import Engine, RuleError, check_expression
from ejia.rules.spec import CriterionSpec, ProgrammeSpec

# ---------------------------------------------------------------- access


def editable_department_ids(user) -> set[int] | None:
    """The departments whose programmes the user maintains; None = all of them (the policy's
    AREA reach: the assistance centre coordinates every department's programmes)."""
    if require(user, Capability.CATALOGUE_EDIT) == Reach.AREA:
        return None
    department_id = user.unit.department_id if user.unit else None
    if department_id is None:
        raise PermissionDenied("您所在的单位不是部门（单位），没有可维护的救助项目。")
    return {department_id}


def programme_for_editor(user, code: str) -> Programme:
    programme = selectors.programme_get(code)
    if programme is None:
        raise Http404("没有这个救助项目。")
    allowed = editable_department_ids(user)
    if allowed is not None and programme.department_id not in allowed:
        own = user.unit.department.name if user.unit and user.unit.department else ""
        raise PermissionDenied(
            f"“{programme.name}”由{programme.department.name}维护，您只能维护本部门（{own}）的项目。"
        )
    return programme


editor_view = staff_view(Capability.CATALOGUE_EDIT)


# ---------------------------------------------------------------- the population counted

# The count runs over the population of the provider module named by
# settings.EJIA_COUNT_POPULATION (today the synthetic demo city, see ejia/demo/population.py):
# loaded once per process and again when its cache key changes.
_population_lock = threading.Lock()
_population_cache: dict[str, object] = {}


@dataclass(frozen=True)
class Population:
    description: str
    households: object  # pyarrow.Table, or None when read from `folder`
    members: object
    folder: object = None  # the discovery export's folder (Parquet files)
    rows: int = 0

    @property
    def size(self) -> int:
        return self.rows if self.folder is not None else self.households.num_rows

    @property
    def is_registry(self) -> bool:
        return self.folder is not None


def population() -> Population:
    """The registry export of the what-if (影响测算) when one exists: the live count and the
    what-if read the same files. Before the first what-if, the provider's population."""
    from ejia.discovery.whatif import latest_export

    export = latest_export()
    if export is not None:
        written = timezone.localtime(export.written_at)
        return Population(
            description=f"全市登记家庭（{written:%Y-%m-%d %H:%M}导出）",
            households=None,
            members=None,
            folder=export.folder,
            rows=export.households,
        )
    provider = import_module(settings.EJIA_COUNT_POPULATION)
    key = provider.cache_key()
    with _population_lock:
        cached = _population_cache.get(key)
        if cached is None:
            cached = Population(*provider.load())
            _population_cache.clear()
            _population_cache[key] = cached
    return cached


@dataclass(frozen=True)
class Count:
    eligible: int
    possibly: int


def count_qualifying(spec: ProgrammeSpec, *, on: dt.date) -> Count:
    import duckdb
    import pyarrow as pa

    published = {s.code: s for s in selectors.published_specs(on)}
    engine = Engine(selectors.with_dependencies(spec, published))
    people = population()
    rows = selectors.standards_table_rows(on)
    standards = pa.table(
        {
            "region_code": pa.array([r["region_code"] for r in rows], pa.string()),
            "urban": pa.array([r["urban"] for r in rows], pa.bool_()),
            "kind": pa.array([r["kind"] for r in rows], pa.string()),
            "amount_fen": pa.array([r["amount_fen"] for r in rows], pa.int64()),
        }
    )
    con = duckdb.connect()
    try:
        if people.is_registry:
            con.read_parquet(str(people.folder / "households.parquet")).create_view("households")
            con.read_parquet(str(people.folder / "members.parquet")).create_view("members")
        else:
            con.register("households", people.households)
            con.register("members", people.members)
        con.register("standards", standards)
        result = engine.evaluate_bulk(con, on=on, amounts=())  # the count reads outcomes only
    finally:
        con.close()
    outcomes = result.column(f"{spec.code}__outcome").to_pylist()
    return Count(eligible=outcomes.count("eligible"), possibly=outcomes.count("possibly_eligible"))


_published_counts: dict[tuple, Count] = {}


def published_count(programme: Programme, *, on: dt.date) -> Count | None:
    version = selectors.programme_current_version(programme, on=on)
    if version is None:
        return None
    key = (programme.code, version.pk, on, population().description, str(population().folder), population().size)
    if key not in _published_counts:
        if len(_published_counts) > 256:
            _published_counts.clear()
        _published_counts[key] = count_qualifying(selectors.version_spec(programme, version), on=on)
    return _published_counts[key]


# ---------------------------------------------------------------- checking as one types


@dataclass
class CheckedCriterion:
    number: int
    label: str
    error: str = ""


@dataclass
class RulesCheck:
    criteria: list[CheckedCriterion]
    amount_error: str = ""
    other_error: str = ""
    draft: Count | None = None
    published: Count | None = None
    population: Population | None = None

    @property
    def delta(self) -> int | None:
        if self.draft is None or self.published is None:
            return None
        return self.draft.eligible - self.published.eligible

    @property
    def delta_abs(self) -> int:
        return abs(self.delta or 0)

    @property
    def ok(self) -> bool:
        return not (self.amount_error or self.other_error or any(c.error for c in self.criteria))


def rules_check(programme: Programme, criteria: list[dict], amount_expr: str, *, on: dt.date) -> RulesCheck:
    codes = {p.code for p in selectors.programme_list(include_inactive=True)}
    checked = []
    for number, item in enumerate(criteria, start=1):
        row = CheckedCriterion(number=number, label=item.get("label", ""))
        if not item.get("label") or not item.get("expr"):
            row.error = "条件的说法和规则表达式要同时填写。"
        else:
            try:
                check_expression(item["expr"], target=programme.target, kind="criterion", programme_codes=codes)
            except RuleError as exc:
                row.error = exc.message
        checked.append(row)
    check = RulesCheck(criteria=checked)
    if not criteria:
        check.other_error = "至少需要一条条件。"
    if amount_expr:
        try:
            check_expression(amount_expr, target=programme.target, kind="amount", programme_codes=codes)
        except RuleError as exc:
            check.amount_error = exc.message
    check.population = population()
    check.published = published_count(programme, on=on)
    if check.ok:
        spec = ProgrammeSpec(
            code=programme.code,
            name=programme.name,
            target=programme.target,
            criteria=tuple(CriterionSpec(c["label"], c["expr"]) for c in criteria),
            amount=amount_expr or None,
            department=programme.department.code,
        )
        try:
            check.draft = count_qualifying(spec, on=on)
        except RuleError as exc:
            check.other_error = exc.message
    return check


# ---------------------------------------------------------------- pages


def _latest_draft(programme: Programme) -> ProgrammeVersion | None:
    drafts = [v for v in selectors.programme_versions(programme) if not v.is_published]
    return drafts[0] if drafts else None


def _head(programme: Programme) -> ProgrammeVersion | None:
    published = [v for v in selectors.programme_versions(programme) if v.is_published]
    return max(published, key=lambda v: (v.effective_from, v.number)) if published else None


@editor_view
def programme_list_view(request):
    allowed = editable_department_ids(request.user)
    programmes = selectors.programme_list(include_inactive=True)
    if allowed is not None:
        programmes = [p for p in programmes if p.department_id in allowed]
    groups: dict[Department, list[Programme]] = {}
    for p in programmes:
        groups.setdefault(p.department, []).append(p)
    return render(request, "catalogue/editor/list.html", {"groups": list(groups.items()), "all": allowed is None})


def _rules_initial(programme: Programme) -> tuple[ProgrammeVersion | None, dict, list[dict]]:
    draft = _latest_draft(programme)
    source = draft or _head(programme)
    today = timezone.localdate()
    initial = {
        "amount_expr": source.amount_expr if source else "",
        "effective_from": draft.effective_from if draft else today,
        "change_note": draft.change_note if draft else "",
    }
    criteria = [{"label": c["label"], "expr": c["expr"]} for c in (source.criteria if source else [])]
    return draft, initial, criteria


@editor_view
def programme_edit_view(request, code: str):
    programme = programme_for_editor(request.user, code)
    today = timezone.localdate()
    draft, initial, criteria = _rules_initial(programme)
    text_form = ProgrammeTextForm(instance=programme, prefix="text")
    rules_form = RulesForm(initial=initial)
    formset = CriterionFormSet(initial=criteria, prefix="criteria")

    programmes = _other_programmes(programme)
    combo_formset = CombinationFormSet(
        initial=_combination_initial(programme), prefix="combo", form_kwargs={"programmes": programmes}
    )
    combo_error = ""
    if request.method == "POST" and request.POST.get("form") == "combinations":
        combo_formset = CombinationFormSet(request.POST, prefix="combo", form_kwargs={"programmes": programmes})
        if combo_formset.is_valid():
            try:
                services.combination_rules_set(
                    actor=request.user, programme=programme, rows=combination_rows(combo_formset)
                )
            except ValidationError as exc:
                combo_error = " ".join(exc.messages)
            else:
                messages.success(request, "组合规则已保存，综合救助方案即时按新规则评估。")
                return redirect("catalogue:edit", code=code)
        else:
            combo_error = "组合规则填写有误，请检查。"
    elif request.method == "POST" and request.POST.get("form") == "text":
        text_form = ProgrammeTextForm(request.POST, instance=selectors.programme_get(code), prefix="text")
        if text_form.is_valid():
            fields = {name: text_form.cleaned_data[name] for name in text_form.Meta.fields}
            try:
                services.programme_update(actor=request.user, programme=programme, **fields)
            except ValidationError as exc:
                text_form.add_error(None, exc)
            else:
                messages.success(request, "项目说明已保存，查政策页面即时更新。")
                return redirect("catalogue:edit", code=code)
    elif request.method == "POST":
        rules_form = RulesForm(request.POST)
        formset = CriterionFormSet(request.POST, prefix="criteria")
        if rules_form.is_valid() and formset.is_valid():
            version = _save_rules(request, programme, draft, rules_form, formset)
            started = getattr(request, "ejia_whatif", None)
            if started is not None:
                return redirect("catalogue:whatif", code=code, public_id=started.public_id)
            if version is not None:
                return (
                    redirect("catalogue:edit", code=code)
                    if not version.is_published
                    else redirect("catalogue:history", code=code)
                )

    current = selectors.programme_current_version(programme, on=today)
    check = rules_check(
        programme,
        criteria_from(formset) if formset.is_bound and formset.is_valid() else criteria,
        (
            rules_form.cleaned_data.get("amount_expr", "")
            if rules_form.is_bound and rules_form.is_valid()
            else initial["amount_expr"]
        )
        or "",
        on=today,
    )
    return render(
        request,
        "catalogue/editor/edit.html",
        {
            "programme": programme,
            "text_form": text_form,
            "rules_form": rules_form,
            "formset": formset,
            "draft": draft,
            "current": current,
            "check": check,
            "today": today,
            "combo_formset": combo_formset,
            "combo_error": combo_error,
            "combo_check": combo_error or _combination_problem(programme, combo_formset),
            "combo_incoming": CombinationRule.objects.filter(other=programme).select_related("programme"),
        },
    )


def _other_programmes(programme: Programme) -> list[Programme]:
    return list(Programme.objects.exclude(pk=programme.pk).order_by("sort_order", "code"))


def _combination_initial(programme: Programme) -> list[dict]:
    return [
        {"kind": r.kind, "other": r.other.code, "scope": r.scope, "note": r.note}
        for r in CombinationRule.objects.filter(programme=programme).select_related("other")
    ]


def _combination_problem(programme: Programme, formset) -> str:
    """The live check's verdict on the rules as typed: "" when they hold together."""
    if not formset.is_bound:
        return ""
    if not formset.is_valid():
        return "组合规则填写有误，请检查。"
    try:
        services.combination_rules_check(programme=programme, rows=combination_rows(formset))
    except ValidationError as exc:
        return " ".join(exc.messages)
    return ""


@editor_view
@require_POST
def combinations_check_view(request, code: str):
    """The htmx fragment: whether the combination rules as typed hold together with everyone's."""
    programme = programme_for_editor(request.user, code)
    formset = CombinationFormSet(request.POST, prefix="combo", form_kwargs={"programmes": _other_programmes(programme)})
    return render(
        request,
        "catalogue/editor/_combination_check.html",
        {"combo_check": _combination_problem(programme, formset), "checked": True},
    )


def _save_rules(request, programme, draft, rules_form, formset) -> ProgrammeVersion | None:
    criteria = criteria_from(formset)
    data = rules_form.cleaned_data
    publish = request.POST.get("action") == "publish"
    whatif = request.POST.get("action") == "whatif"
    try:
        with transaction.atomic():
            if draft is None:
                version = services.programme_draft_create(
                    actor=request.user,
                    programme=programme,
                    criteria=criteria,
                    amount_expr=data["amount_expr"],
                    effective_from=data["effective_from"],
                    change_note=data["change_note"],
                )
            else:
                version = services.programme_draft_update(
                    actor=request.user,
                    version=draft,
                    criteria=criteria,
                    amount_expr=data["amount_expr"],
                    effective_from=data["effective_from"],
                    change_note=data["change_note"],
                )
            if publish:
                if not data["change_note"]:
                    raise ValidationError({"change_note": ["发布前请写明修改说明。"]})
                version = services.programme_version_publish(
                    actor=request.user, version=version, reason=data["change_note"]
                )
    except ValidationError as exc:
        _errors_to_forms(exc, rules_form)
        return None
    if whatif:
        request.ejia_whatif = _whatif_start(request, version)
        return version
    if publish:
        messages.success(
            request,
            f"第{version.number}版已发布，自{version.effective_from:%Y年%-m月%-d日}起生效。已发布的版本不能再修改。",
        )
    else:
        messages.success(request, f"草稿（第{version.number}版）已保存，尚未生效。")
    return version


def _errors_to_forms(exc: ValidationError, rules_form: RulesForm) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            target = field if field in ("amount_expr", "effective_from", "change_note") else None
            for error in errors:
                rules_form.add_error(target, error)
    else:
        for error in exc.messages:
            rules_form.add_error(None, error)


@editor_view
@require_POST
def rules_check_view(request, code: str):
    """The htmx fragment: the engine's verdict on the rules as typed, and the counts."""
    programme = programme_for_editor(request.user, code)
    rows = criteria_from_post(request.POST)
    check = rules_check(
        programme,
        [{"label": r["label"], "expr": r["expr"]} for r in rows],
        (request.POST.get("amount_expr") or "").strip(),
        on=timezone.localdate(),
    )
    return render(request, "catalogue/editor/_check.html", {"check": check, "programme": programme})


@editor_view
def programme_history_view(request, code: str):
    programme = programme_for_editor(request.user, code)
    versions = selectors.programme_versions(programme)
    rows = []
    ordered = sorted(versions, key=lambda v: v.number)
    previous = None
    for version in ordered:
        rows.append({"version": version, "changes": _changes(previous, version)})
        if version.is_published:
            previous = version
    rows.reverse()
    today = timezone.localdate()
    current = selectors.programme_current_version(programme, on=today)
    return render(
        request,
        "catalogue/editor/history.html",
        {"programme": programme, "rows": rows, "current": current, "text_changes": _text_changes(programme)},
    )


def _text_changes(programme: Programme) -> list[dict]:
    """Edits of the public texts (not versioned; each one is in the audit log)."""
    from ejia.core.models import AuditEvent

    labels = {name: str(field.label) for name, field in ProgrammeTextForm().fields.items()}
    events = AuditEvent.objects.filter(
        action="catalogue.programme_update",
        object_type=programme._meta.label_lower,
        object_id=str(getattr(programme, "public_id", None) or programme.pk),
    ).select_related("actor")
    return [
        {
            "at": event.created_at,
            "who": event.actor.get_full_name() if event.actor else event.actor_label,
            "fields": "、".join(labels.get(name, name) for name in (event.data or {})),
        }
        for event in events.order_by("-seq")[:50]
    ]


def _changes(before: ProgrammeVersion | None, after: ProgrammeVersion) -> list[tuple[str, str]]:
    """What a version changed against the published one before it, in words."""
    if before is None:
        return [("added", c["label"]) for c in after.criteria]
    old = {c["label"]: c["expr"] for c in before.criteria}
    new = {c["label"]: c["expr"] for c in after.criteria}
    changes: list[tuple[str, str]] = []
    for label, expr in new.items():
        if label not in old:
            changes.append(("added", label))
        elif old[label] != expr:
            changes.append(("changed", label))
    changes.extend(("removed", label) for label in old if label not in new)
    if (before.amount_expr or "") != (after.amount_expr or ""):
        changes.append(("amount", "金额公式"))
    return changes


# ---------------------------------------------------------------- 影响测算 (what-if)


def _whatif_start(request, version: ProgrammeVersion):
    from ejia.discovery.whatif import WhatIfRefused, whatif_start

    try:
        return whatif_start(actor=request.user, version=version)
    except WhatIfRefused as exc:
        messages.error(request, exc.message)
        return None


@editor_view
@require_POST
def whatif_start_view(request, code: str):
    """Run the what-if of the programme's saved draft."""
    programme = programme_for_editor(request.user, code)
    draft = _latest_draft(programme)
    if draft is None:
        messages.error(request, "请先保存草稿，再测算影响。")
        return redirect("catalogue:edit", code=code)
    started = _whatif_start(request, draft)
    if started is None:
        return redirect("catalogue:edit", code=code)
    return redirect("catalogue:whatif", code=code, public_id=started.public_id)


@editor_view
def whatif_view(request, code: str, public_id):
    """The what-if's progress and, when finished, its table (the page polls itself while open)."""
    from ejia.discovery.models import WhatIfRun

    programme = programme_for_editor(request.user, code)
    item = WhatIfRun.objects.filter(programme=programme, public_id=public_id).select_related("version").first()
    if item is None:
        raise Http404("没有这次测算。")
    return render(
        request,
        "catalogue/editor/whatif.html",
        {
            "programme": programme,
            "item": item,
            "draft_changed": item.version.updated_at > item.version_updated_at or item.version.is_published,
            "export_age_days": (timezone.localdate() - timezone.localtime(item.export_at).date()).days
            if item.export_at
            else None,
        },
    )
