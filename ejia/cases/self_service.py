"""群众自助申请 (web portal and the citizens' app): how a citizen's answers become the draft data
that `intake_engine.submit` takes. The portal's step pages (ejia.cases.citizen_apply) and the
app's API (ejia.api.routers.app) both call these, so every rule lives here once.

Unlike the window, nothing is pre-filled from the population base: a citizen typing an ID
number must not learn who else is registered with that person.
"""

from __future__ import annotations

from django.utils import timezone

from ejia.accounts.models import Division
from ejia.cases import drafts
from ejia.cases import intake_engine as engine
from ejia.cases.intake import adults
from ejia.cases.intake_forms import ApplicantForm, NeedsForm
from ejia.cases.models import Channel, Need
from ejia.cases.services import CaseError
from ejia.cases.uploads import UploadError, store_signature
from ejia.core import idnumber
from ejia.core.money import InvalidAmount, yuan_to_fen
from ejia.registry.models import Relation
from ejia.registry.selectors import current_membership, person_by_id_number

RULES = engine.rules_for(Channel.SELF_SERVICE)


def new_member(id_number: str, name: str, relation: str) -> dict:
    return {
        "key": drafts.new_member_key(),
        "id_number": id_number,
        "name": name,
        "relation": relation,
        "phone": "",
        "source": "self",
        "facts": {},
    }


def data_start(*, phone: str, id_number: str, name: str) -> dict:
    """The draft data of a new self-service application by the applicant (a valid ID number,
    already checked by ApplicantForm). A known household brings its place, never its members."""
    parsed = idnumber.parse(id_number)
    data = {
        "channel": Channel.SELF_SERVICE,
        "household_id": None,
        "division_code": "",
        "address": "",
        "phone": phone,
        "members": [new_member(parsed.number, name, Relation.HEAD)],
        "household_facts": {},
        "needs": [],
        "needs_note": "",
        "programmes": [],
        "auth": {},
    }
    data["applicant"] = data["members"][0]["key"]
    person = person_by_id_number(parsed.number)
    membership = current_membership(person) if person else None
    if membership is not None:
        data["household_id"] = str(membership.household.public_id)
        data["division_code"] = membership.household.division.code
        data["members"][0]["relation"] = membership.relation
    return data


def member_add(data: dict, *, id_number: str, name: str, relation: str) -> dict:
    """Add a household member; CaseError / InvalidIdNumber with a Chinese message otherwise."""
    parsed = idnumber.parse(id_number)
    name = (name or "").strip()
    if not name:
        raise CaseError("请填写新成员的姓名。")
    if any(m["id_number"] == parsed.number for m in data["members"]):
        raise CaseError("这位成员已经添加过了。")
    person = person_by_id_number(parsed.number)
    membership = current_membership(person) if person else None
    if membership is not None and str(membership.household.public_id) != (data.get("household_id") or ""):
        raise CaseError("这位成员已登记在其他家庭，一人只能属于一个家庭。请到乡镇（街道）窗口咨询。")
    member = new_member(parsed.number, name, Relation.normalise(relation))
    data["members"].append(member)
    return member


def income_set(member: dict, raw: str) -> None:
    """The member's monthly income from a yuan amount ("" = unknown); InvalidAmount otherwise."""
    raw = (raw or "").strip()
    member["facts"]["income_month_fen"] = yuan_to_fen(raw) if raw else None


def signatures_store(data: dict, signatures: dict[str, str]) -> None:
    """Each adult's handwritten authorisation (PNG data URL by member key); UploadError otherwise."""
    now = timezone.now().isoformat()
    for m in adults(data):
        signature = signatures.get(m["key"], "")
        if signature:
            data["auth"][m["key"]] = {
                "method": "signature",
                "file": store_signature(signature, what=f"{m['name']}的签名"),
                "signed_at": now,
            }


class AnswerError(CaseError):
    """One answer of a whole application is refused; `field` names it (e.g. "members.1.id_number")."""

    def __init__(self, message: str, *, field: str, step: str = "") -> None:
        super().__init__(message, step=step)
        self.field = field


def place_set(data: dict, *, village_code: str, address: str) -> None:
    """The household's village (社区) for a household not yet known; CaseError otherwise."""
    village = Division.objects.filter(code=village_code or "", level=Division.Level.VILLAGE).first()
    if village is None:
        raise CaseError("请选择村（社区）。", step="place")
    data["division_code"] = village.code
    data["address"] = (address or "").strip()[:200]


def needs_set(data: dict, *, needs: list[str], note: str) -> None:
    form = NeedsForm({"needs": [n for n in needs if n in Need.values], "needs_note": (note or "")[:2000]})
    if not form.is_valid():
        raise CaseError("困难情况填写有误。", step="needs")
    data.update(form.cleaned_data)


def application_submit(*, phone: str, answers: dict, idempotency_key: str):
    """A whole self-service application at once (the citizens' app): the same steps, checks and
    submission as the portal's pages, in their order. `answers`:

        name, id_number, village_code, address, income_month_yuan,
        members: [{name, id_number, relation, income_month_yuan}],
        needs, needs_note, programmes (plan keys), signatures ({ID number: PNG data URL})

    Returns the Case; AnswerError names the answer at fault."""
    form = ApplicantForm(
        {"id_number": answers.get("id_number", ""), "name": answers.get("name", "")}, name_required=True
    )
    if not form.is_valid():
        field = next(iter(form.errors), "id_number")
        raise AnswerError(form.first_error(), field=field, step="start")
    data = data_start(phone=phone, id_number=form.cleaned_data["id_number"], name=form.cleaned_data["name"])
    if not data["division_code"]:
        try:
            place_set(data, village_code=answers.get("village_code", ""), address=answers.get("address", ""))
        except CaseError as exc:
            raise AnswerError(exc.message, field="village_code", step="place") from None
    try:
        income_set(data["members"][0], answers.get("income_month_yuan", ""))
    except InvalidAmount as exc:
        raise AnswerError(str(exc), field="income_month_yuan", step="household") from None
    for i, item in enumerate(answers.get("members") or []):
        try:
            member = member_add(
                data, id_number=item.get("id_number", ""), name=item.get("name", ""), relation=item.get("relation", "")
            )
        except idnumber.InvalidIdNumber as exc:
            raise AnswerError(exc.message, field=f"members.{i}.id_number", step="household") from None
        except CaseError as exc:
            raise AnswerError(exc.message, field=f"members.{i}", step="household") from None
        try:
            income_set(member, item.get("income_month_yuan", ""))
        except InvalidAmount as exc:
            raise AnswerError(f"{member['name']}：{exc}", field=f"members.{i}.income_month_yuan") from None
    needs_set(data, needs=list(answers.get("needs") or []), note=answers.get("needs_note", ""))
    plan = engine.plan_for(data)
    offered = {e.key for e in engine.offered_entries(plan, data, RULES)}
    wanted = list(answers.get("programmes") or [])
    unknown = [k for k in wanted if k not in offered]
    if unknown:
        raise AnswerError(
            f"以下项目不在可申请的范围内：{'、'.join(unknown)}。可申请的项目：{'、'.join(sorted(offered)) or '无'}。",
            field="programmes",
            step="plan",
        )
    try:
        data["programmes"] = engine.programmes_choose(data, plan, wanted, RULES)
    except CaseError as exc:
        raise AnswerError(exc.message, field="programmes", step="plan") from None
    by_number = {m["id_number"]: m["key"] for m in data["members"]}
    signatures = {}
    for number, signature in (answers.get("signatures") or {}).items():
        try:
            number = idnumber.parse(number).number
        except idnumber.InvalidIdNumber:
            raise AnswerError(f"签名对应的身份证号码不正确：{number}", field="signatures") from None
        if number not in by_number:
            raise AnswerError("签名对应的身份证号码不是本次登记的家庭成员。", field="signatures")
        signatures[by_number[number]] = signature
    try:
        signatures_store(data, signatures)
    except UploadError as exc:
        raise AnswerError(exc.message, field="signatures", step="authorise") from None
    problems = engine.authorisation_problems(data, RULES)
    if problems:
        raise AnswerError(" ".join(problems.values()), field="signatures", step="authorise")
    return engine.submit(rules=RULES, actor=None, idempotency_key=idempotency_key, data=data)
