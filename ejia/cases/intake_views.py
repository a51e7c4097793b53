"""The intake steps: one page per step, the state in the server-side draft (IntakeDraft)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ejia.accounts.policies import Capability, staff_view
from ejia.cases import drafts
from ejia.cases import intake_engine as engine
from ejia.cases.intake import (
    HOUSEHOLD_FIELDS,
    MEMBER_FIELDS,
    add_member,
    adults,
    channel_for,
    field_views,
    intake_prefill,
    member_summary,
    parse_facts,
    townships_of_city,
    village_in_city,
    villages_for,
)
from ejia.cases.intake_forms import ApplicantForm, NeedsForm, ProgrammesForm
from ejia.cases.matching import PlanError, relevant_to
from ejia.cases.models import Case, Channel, Need
from ejia.cases.receipt import receipt_pdf
from ejia.cases.selectors import draft_household, handover_note, open_cases_of_household
from ejia.cases.services import CaseError
from ejia.cases.uploads import UploadError, store_photo, store_signature
from ejia.catalogue.plan import PlanOutcome
from ejia.core import idnumber
from ejia.core.audit import audit_record
from ejia.registry.models import Relation

STEP_TITLES = {step.key: step.title for step in engine.STAFF_STEPS}


def _context(request, draft, data, step, **extra):
    rules = engine.rules_for(draft.channel if draft else channel_for(request.user))
    return {
        "step": step,
        "steps": [(s.key, s.title) for s in engine.STAFF_STEPS],
        "step_index": engine.rules_for(Channel.WINDOW).index(step),
        "draft": draft,
        "data": data,
        "channel": rules.channel,
        "rules": rules,
        "is_proxy": rules.proxy_consent,
        **extra,
    }


def _load(request):
    draft = drafts.draft_get(user=request.user)
    if draft is None:
        return None, None
    return draft, drafts.draft_data(draft)


def _no_draft(request):
    messages.warning(request, "没有进行中的申请，请从身份证号码开始。")
    return redirect("cases:intake_start")


@staff_view(Capability.CASE_INTAKE, cache=False)
def intake_start(request):
    draft = drafts.draft_get(user=request.user)
    error = ""
    posted = {"id_number": "", "name": "", "address": "", "card_read": "", "authorised_here": ""}
    if request.method == "POST":
        posted = {k: request.POST.get(k, "").strip() for k in posted}
        form = ApplicantForm(request.POST)
        try:
            if not form.is_valid():
                raise CaseError(form.first_error())
            data = intake_prefill(
                user=request.user,
                id_number=form.cleaned_data["id_number"],
                name=form.cleaned_data["name"],
                address=form.cleaned_data["address"],
                card_read=form.card_was_read,
                authorised_here=form.cleaned_data["authorised_here"],
            )
        except CaseError as exc:
            error = exc.message
        else:
            drafts.draft_start(user=request.user, channel=data["channel"], data=data)
            return redirect("cases:intake_household")
    return render(
        request,
        "cases/intake_start.html",
        _context(
            request,
            None,
            {},
            "start",
            unfinished=draft,
            unfinished_title=STEP_TITLES.get(draft.step, "") if draft else "",
            error=error,
            posted=posted,
            reader_url=settings.EJIA_ID_READER_URL,
        ),
    )


@staff_view(Capability.CASE_INTAKE, cache=False)
@require_POST
def intake_discard(request):
    drafts.draft_discard(user=request.user)
    messages.info(request, "已放弃未完成的申请。")
    return redirect("cases:intake_start")


def _member_rows(data, posted=None, errors=None):
    rows = []
    for m in data["members"]:
        prefix = f"m_{m['key']}_"
        rows.append(
            {
                "m": m,
                "prefix": prefix,
                "info": member_summary(m),
                "name": posted.get(prefix + "name", "") if posted is not None else m["name"],
                "relation": posted.get(prefix + "relation", "") if posted is not None else m["relation"],
                "fields": field_views(prefix, MEMBER_FIELDS, m.get("facts", {}), posted, errors),
                "is_applicant": m["key"] == data.get("applicant"),
            }
        )
    return rows


@staff_view(Capability.CASE_INTAKE, cache=False)
def intake_household(request):
    draft, data = _load(request)
    if draft is None:
        return _no_draft(request)
    errors: dict[str, str] = {}
    posted = None
    # 全市通办: the villages of another township are listed when asked for, or when the form
    # already names one of them (pre-filled, or chosen before).
    township = request.GET.get("township", "") or (data.get("division_code") or "")[:9]
    if request.method == "POST":
        posted = request.POST
        removed = {m["key"] for m in data["members"] if posted.get(f"m_{m['key']}_remove")}
        applicant = posted.get("applicant", data.get("applicant"))
        if applicant in removed:
            errors["members"] = "申请人不能移除；如需更换申请人，请先选择另一位成员为申请人。"
        for m in data["members"]:
            prefix = f"m_{m['key']}_"
            name = posted.get(prefix + "name", "").strip()
            if not name and m["key"] not in removed:
                errors[prefix + "name"] = "请填写姓名。"
            m["name"] = name or m["name"]
            m["relation"] = Relation.normalise(posted.get(prefix + "relation", m["relation"]))
            m["facts"] = parse_facts(prefix, MEMBER_FIELDS, posted, errors)
        data["household_facts"] = parse_facts("h_", HOUSEHOLD_FIELDS, posted, errors)
        for key in ("address", "phone", "bank_name", "account_number"):
            data[key] = posted.get(key, "").strip()
        data["phone_consent"] = bool(posted.get("phone_consent"))
        village = posted.get("division_code", "")
        if village and village_in_city(request.user, village) is None:
            errors["division_code"] = "请选择本市的村（社区）。"
        elif data.get("household_id") is None and not data.get("blind"):
            data["division_code"] = village
        if not data.get("division_code"):
            errors["division_code"] = "请选择家庭所在的村（社区）。"
        if not errors:
            data["applicant"] = applicant
            data["members"] = [m for m in data["members"] if m["key"] not in removed]
            for key in removed:
                data.get("auth", {}).pop(key, None)
        if posted.get("new_id_number", "").strip():
            try:
                add_member(
                    data,
                    id_number=posted["new_id_number"],
                    name=posted.get("new_name", ""),
                    relation=posted.get("new_relation", ""),
                )
            except (idnumber.InvalidIdNumber, CaseError) as exc:
                errors["new_id_number"] = exc.message
        if errors:
            drafts.draft_save(draft=draft, data=data)
        else:
            adding = posted.get("action") == "add" or posted.get("new_id_number", "").strip()
            drafts.draft_save(draft=draft, data=data, step="household" if adding else "needs")
            return redirect("cases:intake_household" if adding else "cases:intake_needs")
    return render(
        request,
        "cases/intake_household.html",
        _context(
            request,
            draft,
            data,
            "household",
            rows=_member_rows(data, posted if errors else None, errors),
            household_fields=field_views(
                "h_", HOUSEHOLD_FIELDS, data.get("household_facts", {}), posted if errors else None, errors
            ),
            villages=villages_for(request.user, township),
            townships=townships_of_city(request.user),
            township=township,
            relations=Relation.choices,
            errors=errors,
            posted=posted if errors else {},
            open_cases=open_cases_of_household(draft_household(data)),
        ),
    )


@staff_view(Capability.CASE_INTAKE, cache=False)
def intake_needs(request):
    draft, data = _load(request)
    if draft is None:
        return _no_draft(request)
    form = NeedsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data.update(form.cleaned_data)
        drafts.draft_save(draft=draft, data=data, step="plan")
        return redirect("cases:intake_plan")
    return render(request, "cases/intake_needs.html", _context(request, draft, data, "needs", needs=Need.choices))


def _plan(data):
    today = timezone.localdate()
    return engine.plan_for(data, today), today


def plan_groups(plan, needs):
    """The plan as the window shows it: what the family already has, then what it may apply
    for, then what it cannot combine, then the rest."""
    possible = plan.with_outcome(PlanOutcome.POSSIBLE)
    return [
        ("already_received", PlanOutcome.ALREADY_RECEIVED.label, plan.with_outcome(PlanOutcome.ALREADY_RECEIVED)),
        ("eligible", PlanOutcome.LIKELY.label, plan.with_outcome(PlanOutcome.LIKELY)),
        ("possibly_eligible", PlanOutcome.POSSIBLE.label, [e for e in possible if relevant_to(e, needs)]),
        ("possibly_other", "其他需要核实的项目", [e for e in possible if not relevant_to(e, needs)]),
        ("excluded", PlanOutcome.EXCLUDED.label, plan.with_outcome(PlanOutcome.EXCLUDED)),
        ("not_eligible", PlanOutcome.UNLIKELY.label, plan.with_outcome(PlanOutcome.UNLIKELY)),
    ]


@staff_view(Capability.CASE_INTAKE, cache=False)
def intake_plan(request):
    draft, data = _load(request)
    if draft is None:
        return _no_draft(request)
    if not data.get("division_code"):
        return redirect("cases:intake_household")
    try:
        plan, today = _plan(data)
    except PlanError as exc:
        messages.error(request, f"无法评估救助方案：{exc.message} 请检查申报的情况。")
        return redirect("cases:intake_household")
    if request.method == "POST":
        data["plan_date"] = today.isoformat()
        try:
            rules = engine.rules_for(draft.channel)
            form = ProgrammesForm(request.POST, offered=engine.offered_entries(plan, data, rules))
            form.is_valid()
            data["programmes"] = engine.programmes_choose(data, plan, form.cleaned_data["programmes"], rules)
        except CaseError as exc:
            drafts.draft_save(draft=draft, data=data)
            messages.error(request, exc.message)
            return redirect("cases:intake_plan")
        drafts.draft_save(draft=draft, data=data, step="authorise")
        return redirect("cases:intake_authorise")
    chosen = set(data.get("programmes") or [])
    if not chosen and draft.step == "plan":
        chosen = plan.default_choice()
        if data.get("lead_programme"):
            # An application started from a 主动发现 lead: its programme comes pre-ticked.
            chosen |= {e.key for e in plan if e.code == data["lead_programme"] and e.offered}
    return render(
        request,
        "cases/intake_plan.html",
        _context(
            request,
            draft,
            data,
            "plan",
            groups=plan_groups(plan, data.get("needs") or []),
            chosen=chosen,
            plan_date=today,
            totals=plan.totals(),
            member_totals=plan.member_totals(),
        ),
    )


@staff_view(Capability.CASE_INTAKE, cache=False)
def intake_authorise(request):
    draft, data = _load(request)
    if draft is None:
        return _no_draft(request)
    errors: dict[str, str] = {}
    data.setdefault("auth", {})
    if request.method == "POST":
        now = timezone.now().isoformat()
        for member in adults(data):
            key = member["key"]
            signature = request.POST.get(f"sig_{key}", "")
            photo = request.FILES.get(f"photo_{key}")
            try:
                if photo is not None:
                    data["auth"][key] = {"method": "photo", "file": store_photo(photo), "signed_at": now}
                elif signature:
                    data["auth"][key] = {"method": "signature", "file": store_signature(signature), "signed_at": now}
            except UploadError as exc:
                errors[key] = f"{member['name']}：{exc.message}"
        if engine.rules_for(draft.channel).proxy_consent:
            data["proxy_consent"] = bool(request.POST.get("proxy_consent"))
            proxy_sig = request.POST.get("sig_proxy", "")
            if proxy_sig:
                try:
                    data["proxy_signature"] = store_signature(proxy_sig, what="申请人同意代办签名")
                except UploadError as exc:
                    errors["proxy"] = exc.message
        if not errors:
            errors = engine.authorisation_problems(data, engine.rules_for(draft.channel))
        drafts.draft_save(draft=draft, data=data, step="authorise" if errors else "materials")
        if not errors:
            return redirect("cases:intake_materials")
    rows = [{"m": m, "info": member_summary(m), "signed": data["auth"].get(m["key"])} for m in adults(data)]
    return render(
        request,
        "cases/intake_authorise.html",
        _context(request, draft, data, "authorise", rows=rows, errors=errors),
        status=400 if errors else 200,
    )


@staff_view(Capability.CASE_INTAKE, cache=False)
def intake_materials(request):
    draft, data = _load(request)
    if draft is None:
        return _no_draft(request)
    plan, _ = _plan(data)
    keys = data.get("programmes") or []
    chosen = [e for e in plan if e.key in keys]
    papers, notes = plan.materials(keys)
    relations = dict(Relation.choices)
    members = [
        {
            "m": m,
            "info": member_summary(m),
            "signed": data.get("auth", {}).get(m["key"]),
            "relation_label": relations.get(m["relation"], m["relation"]),
        }
        for m in data["members"]
    ]
    needs = dict(Need.choices)
    return render(
        request,
        "cases/intake_materials.html",
        _context(
            request,
            draft,
            data,
            "materials",
            materials=papers,
            application_notes=notes,
            chosen=chosen,
            totals=plan.totals(keys),
            members=members,
            need_labels=[needs[n] for n in data.get("needs", []) if n in needs],
        ),
    )


@staff_view(Capability.CASE_INTAKE, cache=False)
@require_POST
def intake_submit(request):
    key = request.POST.get("idempotency_key", "")
    done = Case.objects.filter(idempotency_key=key, submitted_by=request.user).first() if key else None
    if done is not None:  # a double click or a resubmission: show the case already made
        return _submitted(done)
    draft, data = _load(request)
    if draft is None or draft.idempotency_key != key:
        return _no_draft(request)
    data["materials_received"] = request.POST.getlist("materials_received")
    drafts.draft_save(draft=draft, data=data)
    rules = engine.rules_for(draft.channel)
    try:
        case = engine.submit(rules=rules, actor=request.user, idempotency_key=key, data=data)
    except CaseError as exc:
        messages.error(request, exc.message)
        return redirect(engine.step_for_refusal(rules, exc))
    drafts.draft_discard(user=request.user)
    messages.success(request, f"申请已受理，受理号 {case.reference}。请打印回执交给申请人。")
    return _submitted(case)


def _submitted(case):
    """A case of the clerk's own area opens as usual; one handed over to another township
    (全市通办) is not theirs to read: they get the done page and the receipt only."""
    if case.handed_over:
        return redirect("cases:intake_done", public_id=case.public_id)
    return redirect("cases:case_detail", public_id=case.public_id)


def _own_submission(request, public_id) -> Case:
    """404 if there is no such case, 403 if someone else took it (never naming whose it is)."""
    case = (
        Case.objects.select_related("window", "accepted_unit", "division__parent").filter(public_id=public_id).first()
    )
    if case is None:
        raise Http404("没有找到这份申请。")
    if case.submitted_by_id != request.user.pk:
        raise PermissionDenied("这份申请不是您受理的，您只能查看和打印自己受理的申请的回执。")
    return case


@staff_view(Capability.CASE_INTAKE, cache=False)
def intake_done(request, public_id):
    """What the accepting clerk keeps of an application they took for another township."""
    case = _own_submission(request, public_id)
    return render(
        request,
        "cases/intake_done.html",
        {"case": case, "handover": handover_note(case), "channel": case.channel},
    )


@staff_view(Capability.CASE_INTAKE, cache=False)
def intake_done_receipt(request, public_id):
    case = _own_submission(request, public_id)
    audit_record(actor=request.user, action="cases.receipt_print", obj=case, data={"own_submission": True})
    response = FileResponse(
        receipt_pdf(case), content_type="application/pdf", filename=f"受理回执-{case.reference}.pdf"
    )
    response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline")
    return response
