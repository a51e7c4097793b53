"""Self-service application (群众自助申请): one question per page, saved as it goes.

The citizen logs in by phone + SMS code (citizen_views.login_view); the draft is keyed by
that phone, so leaving and coming back resumes where they stopped. Unlike the window, the
form never pre-fills other people's data from the population base: a citizen typing an ID
number must not learn who else is registered with that person.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from ejia.accounts.models import Division
from ejia.accounts.policies import public_view
from ejia.cases import drafts, self_service
from ejia.cases import intake_engine as engine
from ejia.cases.citizen_views import SESSION_KEY, login_redirect
from ejia.cases.intake import adults, member_summary
from ejia.cases.intake_forms import ApplicantForm, NeedsForm, ProgrammesForm
from ejia.cases.models import Case, Channel, Need
from ejia.cases.selectors import draft_household, open_cases_of_household
from ejia.cases.services import CaseError, adults_without_authorisation
from ejia.cases.uploads import UploadError
from ejia.catalogue.plan import PlanOutcome
from ejia.core import idnumber
from ejia.core.money import InvalidAmount, format_fen_plain
from ejia.registry.models import Relation

RULES = self_service.RULES
STEPS = [(step.key, step.title) for step in RULES.steps]


def _phone(request) -> str:
    return request.session.get(SESSION_KEY, "")


def _ctx(step: str, **extra) -> dict:
    return {"steps": STEPS, "step": step, "step_index": RULES.index(step), **extra}


def _require(request):
    phone = _phone(request)
    if not phone:
        return None, None, None
    draft = drafts.draft_get(phone=phone)
    return phone, draft, drafts.draft_data(draft) if draft else None


def _login_first(request):
    messages.info(request, "请先用手机号登录，申请内容会随时保存，下次登录可以接着填。")
    return login_redirect(request)


@public_view
@never_cache
def apply_start(request):
    phone = _phone(request)
    if not phone:
        return _login_first(request)
    draft = drafts.draft_get(phone=phone)
    error, posted = "", {"id_number": "", "name": ""}
    if request.method == "POST":
        posted = {k: request.POST.get(k, "").strip() for k in posted}
        form = ApplicantForm(request.POST, name_required=True)
        if not form.is_valid():
            error = form.first_error()
        else:
            data = self_service.data_start(phone=phone, id_number=form.cleaned_data["id_number"], name=posted["name"])
            drafts.draft_start(phone=phone, channel=Channel.SELF_SERVICE, data=data, step="place")
            return redirect("citizen:apply_members" if data["division_code"] else "citizen:apply_place")
    return render(request, "cases/citizen/apply_start.html", _ctx("start", draft=draft, error=error, posted=posted))


@public_view
@never_cache
def apply_place(request):
    phone, draft, data = _require(request)
    if not phone:
        return _login_first(request)
    if draft is None:
        return redirect("citizen:apply")
    townships = Division.objects.filter(level=Division.Level.TOWNSHIP).select_related("parent").order_by("code")
    township_code = request.POST.get("township") or request.GET.get("township", "")
    township = townships.filter(code=township_code).first()
    villages = Division.objects.filter(parent=township).order_by("code") if township else []
    error = ""
    if request.method == "POST" and request.POST.get("village"):
        try:
            self_service.place_set(data, village_code=request.POST["village"], address=request.POST.get("address", ""))
        except CaseError as exc:
            error = exc.message
        else:
            drafts.draft_save(draft=draft, data=data, step="members")
            return redirect("citizen:apply_members")
    return render(
        request,
        "cases/citizen/apply_place.html",
        _ctx(
            "place",
            townships=townships,
            township=township,
            villages=villages,
            error=error,
            data=data,
            open_cases=open_cases_of_household(draft_household(data)),
        ),
    )


@public_view
@never_cache
def apply_members(request):
    phone, draft, data = _require(request)
    if not phone:
        return _login_first(request)
    if draft is None or not data.get("division_code"):
        return redirect("citizen:apply")
    errors: dict[str, str] = {}
    if request.method == "POST":
        remove = request.POST.get("remove")
        data["members"] = [m for m in data["members"] if m["key"] != remove or m["key"] == data["applicant"]]
        for m in data["members"]:
            try:
                self_service.income_set(m, request.POST.get(f"income_{m['key']}", ""))
            except InvalidAmount as exc:
                errors[m["key"]] = f"{m['name']}：{exc}"
        new_id = request.POST.get("new_id_number", "").strip()
        if new_id:
            try:
                self_service.member_add(
                    data,
                    id_number=new_id,
                    name=request.POST.get("new_name", ""),
                    relation=request.POST.get("new_relation", ""),
                )
            except (idnumber.InvalidIdNumber, CaseError) as exc:
                errors["new"] = exc.message
        done = request.POST.get("action") == "next" and not errors
        drafts.draft_save(draft=draft, data=data, step="needs" if done else "members")
        if done:
            return redirect("citizen:apply_needs")
    rows = [
        {
            "m": m,
            "info": member_summary(m),
            "income": format_fen_plain(m["facts"].get("income_month_fen")),
            "relation": dict(Relation.choices).get(m["relation"], ""),
        }
        for m in data["members"]
    ]
    return render(
        request,
        "cases/citizen/apply_members.html",
        _ctx(
            "household",
            rows=rows,
            errors=errors,
            relations=Relation.choices,
            data=data,
            posted=request.POST,
            open_cases=open_cases_of_household(draft_household(data)),
        ),
    )


@public_view
@never_cache
def apply_needs(request):
    phone, draft, data = _require(request)
    if not phone:
        return _login_first(request)
    if draft is None:
        return redirect("citizen:apply")
    form = NeedsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data.update(form.cleaned_data)
        drafts.draft_save(draft=draft, data=data, step="programmes")
        return redirect("citizen:apply_programmes")
    return render(request, "cases/citizen/apply_needs.html", _ctx("needs", needs=Need.choices, data=data))


@public_view
@never_cache
def apply_programmes(request):
    phone, draft, data = _require(request)
    if not phone:
        return _login_first(request)
    if draft is None or not data.get("division_code"):
        return redirect("citizen:apply")
    plan = engine.plan_for(data)
    shown = engine.offered_entries(plan, data, RULES)
    if request.method == "POST":
        try:
            form = ProgrammesForm(request.POST, offered=shown)
            form.is_valid()
            data["programmes"] = engine.programmes_choose(data, plan, form.cleaned_data["programmes"], RULES)
        except CaseError as exc:
            drafts.draft_save(draft=draft, data=data)
            messages.error(request, exc.message)
            return redirect("citizen:apply_programmes")
        drafts.draft_save(draft=draft, data=data, step="sign")
        return redirect("citizen:apply_sign")
    return render(
        request,
        "cases/citizen/apply_programmes.html",
        _ctx(
            "plan",
            plan=shown,
            held=plan.with_outcome(PlanOutcome.ALREADY_RECEIVED),
            excluded=plan.with_outcome(PlanOutcome.EXCLUDED),
            chosen=set(data.get("programmes") or []),
            data=data,
            totals=plan.totals(),
        ),
    )


@public_view
@never_cache
def apply_sign(request):
    phone, draft, data = _require(request)
    if not phone:
        return _login_first(request)
    if draft is None:
        return redirect("citizen:apply")
    error = ""
    if request.method == "POST":
        try:
            self_service.signatures_store(
                data, {m["key"]: request.POST.get(f"sig_{m['key']}", "") for m in adults(data)}
            )
        except UploadError as exc:
            error = exc.message
        missing = adults_without_authorisation(data, timezone.localdate())
        if missing and not error:
            error = f"请以下家庭成员本人签名：{'、'.join(missing)}。"
        if not error:
            error = " ".join(engine.authorisation_problems(data, RULES).values())
        drafts.draft_save(draft=draft, data=data, step="sign" if error else "check")
        if not error:
            return redirect("citizen:apply_check")
    rows = [{"m": m, "signed": data["auth"].get(m["key"])} for m in adults(data)]
    return render(request, "cases/citizen/apply_sign.html", _ctx("authorise", rows=rows, error=error))


@public_view
@never_cache
def apply_check(request):
    phone, draft, data = _require(request)
    if not phone:
        return _login_first(request)
    key = request.POST.get("idempotency_key", "")
    if request.method == "POST":
        done = Case.objects.filter(idempotency_key=key, phone=phone).first() if key else None
        if done is None and draft is not None and draft.idempotency_key == key:
            try:
                done = engine.submit(rules=RULES, actor=None, idempotency_key=key, data=data)
            except CaseError as exc:
                messages.error(request, exc.message)
                return redirect(engine.step_for_refusal(RULES, exc))
            drafts.draft_discard(phone=phone)
        if done is not None:
            return redirect("citizen:mine")
    if draft is None:
        return redirect("citizen:apply")
    plan = engine.plan_for(data).by_key()
    needs = dict(Need.choices)
    return render(
        request,
        "cases/citizen/apply_check.html",
        _ctx(
            "materials",
            draft=draft,
            data=data,
            members=[{"m": m, "info": member_summary(m)} for m in data["members"]],
            chosen=[plan[c] for c in data.get("programmes", []) if c in plan],
            need_labels=[needs[n] for n in data.get("needs", []) if n in needs],
            place=Division.objects.filter(code=data["division_code"]).first(),
        ),
    )
