"""Writes of the intake: reference numbers and case submission (one transaction, audited)."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from ejia.accounts.models import Division, OrgUnit
from ejia.accounts.scope import in_city_of
from ejia.cases.matching import (
    PlanError,
    draft_engine_input,
    draft_person_refs,
    household_holdings,
    plan_evaluate,
)
from ejia.cases.models import Authorisation, Case, Channel, ProgrammeRequest, ReferenceCounter
from ejia.core import idnumber
from ejia.core.audit import audit_record
from ejia.core.i18n import official_language
from ejia.core.sms import normalise_mobile
from ejia.registry.models import Household, Membership
from ejia.registry.services import (
    RegistryError,
    household_account_set,
    household_create,
    household_update,
    membership_add,
    membership_end,
    person_ensure,
)


class CaseError(Exception):
    """The application cannot be accepted as it stands; `message` is Chinese, for the user."""

    def __init__(self, message: str, *, step: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.step = step


def reference_allocate(*, county_code: str, day: dt.date) -> str:
    """Next reference number of the county and day: 371602-20260501-0001.

    The counter row is locked, so concurrent intakes in one county queue for a moment
    instead of colliding; other counties and days are not blocked.
    """
    # No savepoint of its own: a refusal here fails the caller's whole submission anyway.
    with transaction.atomic(savepoint=False):
        counters = ReferenceCounter.objects.select_for_update()
        counter = counters.filter(county_code=county_code, day=day).first()
        if counter is None:  # the county's first intake of the day
            ReferenceCounter.objects.get_or_create(county_code=county_code, day=day)
            counter = counters.get(county_code=county_code, day=day)
        if counter.last >= 9999:
            raise CaseError("本县（市、区）今日受理号已用完，请联系系统管理员。")
        counter.last += 1
        counter.save(update_fields=["last"])
        return f"{county_code}-{day:%Y%m%d}-{counter.last:04d}"


def adults_without_authorisation(data: dict, on: dt.date) -> list[str]:
    missing = []
    for member in data.get("members", []):
        try:
            parsed = idnumber.parse(member["id_number"])
        except idnumber.InvalidIdNumber:
            continue
        if parsed.age_on(on) >= 18 and not data.get("auth", {}).get(member["key"]):
            missing.append(member.get("name") or parsed.masked)
    return missing


def _window_of(village: Division) -> OrgUnit | None:
    township = village.parent
    return OrgUnit.objects.filter(division=township, kind=OrgUnit.Kind.WINDOW).first() if township else None


def _check(data: dict, *, actor, channel: str, on: dt.date) -> tuple[Division, list]:
    members = data.get("members") or []
    if not members:
        raise CaseError("请至少登记申请人本人。", step="household")
    numbers = []
    for member in members:
        try:
            numbers.append(idnumber.parse(member.get("id_number", "")).number)
        except idnumber.InvalidIdNumber as exc:
            raise CaseError(
                f"{member.get('name') or '家庭成员'}的身份证号码有误：{exc.message}", step="household"
            ) from None
        if not (member.get("name") or "").strip():
            raise CaseError("请填写每位家庭成员的姓名。", step="household")
    if len(set(numbers)) != len(numbers):
        raise CaseError("同一身份证号码登记了两次，请检查家庭成员。", step="household")
    if data.get("applicant") not in {m["key"] for m in members}:
        raise CaseError("请确定申请人。", step="household")
    division = Division.objects.filter(code=data.get("division_code") or "", level=Division.Level.VILLAGE).first()
    if division is None:
        raise CaseError("请选择家庭所在的村（社区）。", step="household")
    if actor is not None and channel != Channel.SELF_SERVICE and not in_city_of(actor, division):
        raise CaseError("该村（社区）不属于本市，请引导申请人到户籍所在地办理。", step="household")
    missing = adults_without_authorisation(data, on)
    if missing:
        raise CaseError(f"以下成年家庭成员尚未签署核对授权书：{'、'.join(missing)}。", step="authorise")
    if channel == Channel.GRID_PROXY and not (data.get("proxy_consent") and data.get("proxy_signature")):
        raise CaseError("网格员代办须取得申请人同意：请勾选并由申请人签名确认。", step="authorise")
    from ejia.catalogue.models import Programme

    keys = list(dict.fromkeys(data.get("programmes") or []))
    codes = list(dict.fromkeys(k.split(":", 1)[0] for k in keys))
    programmes = list(Programme.objects.filter(code__in=codes, is_active=True).select_related("department"))
    if len(programmes) != len(codes):
        raise CaseError("所选救助项目中有已停用或不存在的项目，请重新选择。", step="plan")
    member_keys = {m["key"] for m in members}
    for key in keys:
        if ":" in key and key.split(":", 1)[1] not in member_keys:
            raise CaseError("所选项目对应的家庭成员已不在申请中，请重新选择。", step="plan")
    return division, programmes


@official_language
def case_submit(*, actor, channel: str, idempotency_key: str, data: dict, on: dt.date | None = None) -> Case:
    """Accept an application: registry updated, case + requests + authorisations created.

    Submitting the same idempotency key again returns the first case (a double click or a
    resubmitted form never makes a second case). Nothing is saved when any rule fails.
    """
    existing = Case.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    today = on or timezone.localdate()
    division, programmes = _check(data, actor=actor, channel=channel, on=today)
    try:
        with transaction.atomic():
            case = _submit(
                actor=actor,
                channel=channel,
                idempotency_key=idempotency_key,
                data=data,
                division=division,
                programmes=programmes,
                today=today,
            )
            # Each request enters its programme's procedure in the same transaction.
            from ejia.cases.workflow.services.moves import procedures_start_for_case

            procedures_start_for_case(case, actor=actor, on=today)
    except RegistryError as exc:
        raise CaseError(exc.message, step="household") from None
    except idnumber.InvalidIdNumber as exc:
        raise CaseError(exc.message, step="household") from None
    except IntegrityError:
        existing = Case.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
        raise CaseError("该家庭刚刚有同一项目的申请被受理，请在受理队列中查看，勿重复申请。", step="plan") from None
    return case


def duplicates_refuse(*, household: Household, wanted: list[tuple], lock: bool = False) -> None:
    """Refuse, naming the reference, a programme the household already has open.

    `wanted` holds (programme, person or None); a member programme clashes only for the same
    person, a household programme for anyone."""
    open_requests = ProgrammeRequest.objects.filter(
        household=household, programme__in=[p for p, _ in wanted], is_open=True
    ).select_related("case", "programme", "person")
    if lock:
        open_requests = open_requests.select_for_update(of=("self",))
    for clash in open_requests:
        if any(
            clash.programme_id == p.pk and (clash.person_id is None or person is None or clash.person_id == person.pk)
            for p, person in wanted
        ):
            who = f"（{clash.person.name}）" if clash.person_id else ""
            raise CaseError(
                f"该家庭已有正在办理的“{clash.programme.name}”{who}申请（受理号 {clash.case.reference}），"
                "不能重复申请；如需补充材料，请在原申请件中办理。",
                step="plan",
            )


def duplicates_refuse_draft(data: dict, keys: list[str]) -> None:
    """The same refusal at the programme step, before anything is signed: the draft's household
    (if registered) and the chosen plan keys ("code" or "code:member key")."""
    from ejia.cases.selectors import draft_household
    from ejia.catalogue.models import Programme
    from ejia.registry.selectors import person_by_id_number

    household = draft_household(data)
    if household is None or not keys:
        return
    by_code = Programme.objects.in_bulk([k.split(":", 1)[0] for k in keys], field_name="code")
    numbers = {m["key"]: m["id_number"] for m in data.get("members") or []}
    wanted = []
    for key in keys:
        code, _, member_key = key.partition(":")
        if code in by_code:
            person = person_by_id_number(numbers[member_key]) if member_key in numbers else None
            if member_key and person is None:
                continue  # a member not registered yet has no open request anywhere
            wanted.append((by_code[code], person))
    duplicates_refuse(household=household, wanted=wanted)


def _contact_phone(data: dict, applicant) -> str:
    """The number that receives the case's messages: the one given on the form, else the
    applicant's from the registry (kept there by person_ensure). A mobile number is stored
    normalised, so that the citizen's phone login finds the case."""
    raw = (data.get("phone") or "").strip() or applicant.phone
    return normalise_mobile(raw) or raw[:20]


def _phone_save_back(*, actor, person, raw: str) -> None:
    """The applicant agreed that the contact number given now replaces the registry's."""
    from ejia.registry.services import person_phone_update

    phone = normalise_mobile(raw)
    if phone and phone != person.phone:
        person_phone_update(actor=actor, person=person, phone=phone, reason="申请人同意更新登记的联系电话")


def _submit(*, actor, channel, idempotency_key, data, division, programmes, today) -> Case:
    from ejia.cases.selectors import draft_household

    members = data["members"]
    reason = "受理申请时登记"
    # The household row first, before any person: two channels submitting for the same family
    # at once queue here, and the second then sees the first's open requests.
    known = draft_household(data)
    if known is not None:
        Household.objects.select_for_update().get(pk=known.pk)
    persons = {
        m["key"]: person_ensure(
            actor=actor, id_number=m["id_number"], name=m["name"], phone=m.get("phone", ""), reason=reason
        )
        for m in members
    }
    applicant = persons[data["applicant"]]
    if data.get("phone_consent"):
        _phone_save_back(actor=actor, person=applicant, raw=data.get("phone") or "")

    # The household: the one the applicant lives in now, else the one the draft started from, else new.
    current = Membership.objects.filter(person=applicant, date_out__isnull=True).values_list("household", flat=True)
    household_pk = current.first()
    if household_pk is None and data.get("household_id"):
        household_pk = Household.objects.filter(public_id=data["household_id"]).values_list("pk", flat=True).first()
    if household_pk is not None:
        household = Household.objects.select_for_update().select_related("division").get(pk=household_pk)
        if actor is not None and channel != Channel.SELF_SERVICE and not in_city_of(actor, household.division):
            raise CaseError("申请人的家庭不在本市登记，请引导申请人到户籍所在地办理。", step="household")
        division = household.division
        if data.get("address") and data["address"] != household.address:
            household_update(actor=actor, household=household, address=data["address"])
    else:
        household = household_create(
            actor=actor,
            division=division,
            address=data.get("address", ""),
            hukou_number=data.get("hukou_number", ""),
            source="intake",
        )
        household = Household.objects.select_for_update().get(pk=household.pk)

    declared_keys = {persons[m["key"]].pk for m in members}
    for member in members:
        membership_add(actor=actor, household=household, person=persons[member["key"]], relation=member["relation"])
    # Members the clerk removed from the form no longer live with the household (as declared).
    # A citizen applying alone never sees the registered members, nor does a clerk of another
    # township who took only what the applicant brought (全市通办): their silence moves nobody.
    if channel != Channel.SELF_SERVICE and not data.get("blind"):
        for gone in household.memberships.filter(date_out__isnull=True).exclude(person_id__in=declared_keys):
            membership_end(actor=actor, membership=gone, date_out=today, reason="受理申请时申报不再共同生活")
    if (data.get("account_number") or "").strip():
        household_account_set(
            actor=actor,
            household=household,
            bank_name=data.get("bank_name", ""),
            account_number=data["account_number"],
            holder=applicant,
        )

    try:
        engine_input = draft_engine_input(data, division, today, household=household)
        plan = plan_evaluate(
            engine_input=engine_input,
            on=today,
            held=household_holdings(household, today, draft_person_refs(data)),
        )
    except PlanError as exc:
        raise CaseError(f"无法评估救助方案：{exc.message}", step="household") from None
    chosen = _chosen_entries(plan, data, programmes)
    # From here on the plan names persons, not the form's member keys.
    plan = plan.renamed({m["key"]: (str(persons[m["key"]].public_id), persons[m["key"]].name) for m in members})
    wanted = [(programme, persons[member_key] if member_key else None) for programme, member_key in chosen]

    # One open request per household per programme (per person for a member programme):
    # point to the case that has it. The household row is locked, so a second channel
    # submitting for the same family waits here and then finds this one's requests.
    duplicates_refuse(household=household, wanted=wanted, lock=True)

    keys = [f"{p.code}:{person.public_id}" if person else p.code for p, person in wanted]
    received = set(data.get("materials_received") or [])
    papers, notes = plan.materials(keys)
    materials = [
        {
            "name": m.name,
            "programmes": list(m.programmes),
            "online": m.online,
            "received": m.online or m.name in received,
        }
        for m in papers
    ] + [{"name": note, "note": True} for note in notes]
    case = Case.objects.create(
        reference=reference_allocate(county_code=division.code[:6], day=today),
        channel=channel,
        household=household,
        division=division,
        window=_window_of(division),
        accepted_unit=actor.unit if getattr(actor, "pk", None) else None,
        applicant=applicant,
        phone=_contact_phone(data, applicant),
        needs=list(data.get("needs") or []),
        needs_note=(data.get("needs_note") or "").strip(),
        declared_facts={
            "household": dict(engine_input.household),
            "members": [
                {
                    "key": m["key"],
                    "person": str(persons[m["key"]].public_id),
                    "name": persons[m["key"]].name,
                    "masked_id": persons[m["key"]].masked_id,
                    "relation": m["relation"],
                    "facts": facts,
                }
                for m, facts in zip(members, engine_input.members, strict=True)
            ],
        },
        plan=plan,
        rule_date=today,
        materials=materials,
        idempotency_key=idempotency_key,
        submitted_by=actor if getattr(actor, "pk", None) else None,
        submitted_at=timezone.now(),
        proxy_consent=bool(data.get("proxy_consent")) and channel == Channel.GRID_PROXY,
        proxy_consent_signature=data.get("proxy_signature", "") if channel == Channel.GRID_PROXY else "",
    )
    by_key = plan.by_key()
    ProgrammeRequest.objects.bulk_create(
        [
            ProgrammeRequest(
                case=case,
                household=household,
                programme=programme,
                person=person,
                outcome_at_intake=by_key[key].outcome.value if key in by_key else "",
                amount_fen_proposed=by_key[key].amount_fen if key in by_key else None,
            )
            for (programme, person), key in zip(wanted, keys, strict=True)
        ]
    )
    authorisations = 0  # the case is new: its authorisations are the ones made here
    for member in members:
        signed = (data.get("auth") or {}).get(member["key"])
        if not signed:
            continue
        signed_at = dt.datetime.fromisoformat(signed["signed_at"])
        authorisations += 1
        Authorisation.objects.create(
            case=case,
            person=persons[member["key"]],
            method=signed["method"],
            image=signed["file"],
            signed_at=signed_at,
            valid_until=signed_at.date() + dt.timedelta(days=Authorisation.VALID_DAYS),
            recorded_by=actor if getattr(actor, "pk", None) else None,
        )
    # Written with the case, sent after commit; the text names the reference, never an ID number.
    from ejia.cases.workflow.notifications import case_message

    case_message(
        case=case,
        dedup_key=f"received:{case.public_id}",
        template="case_received",
        context={"reference": case.reference},
    )
    if case.handed_over:
        # 全市通办: taken here, handled by the household's township from now on.
        audit_record(
            actor=actor,
            action="cases.case_handover",
            obj=case,
            data={
                "reference": case.reference,
                "accepted_unit": case.accepted_unit.name,
                "to_unit": case.window.name if case.window else division.parent.name,
            },
        )
    audit_record(
        actor=actor,
        action="cases.case_submit",
        obj=case,
        data={
            "reference": case.reference,
            "channel": channel,
            "household": str(household.public_id),
            "programmes": keys,
            "authorisations": authorisations,
        },
    )
    return case


def _chosen_entries(plan, data: dict, programmes) -> list[tuple]:
    """(programme, member key or "") for each ticked item. A member programme names its member:
    ticked for one member at the window, or — chosen by code alone — the one member the plan
    finds likely (else possibly) for it. Nothing the family already receives or cannot combine
    is sent to a department."""
    by_code = {p.code: p for p in programmes}
    chosen: list[tuple] = []
    for key in dict.fromkeys(data.get("programmes") or []):
        code, _, member_key = key.partition(":")
        programme = by_code[code]
        if programme.target == programme.Target.MEMBER and not member_key:
            entries = [e for e in plan.for_code(code) if e.person]
            for outcome in ("likely", "possible"):
                found = [e for e in entries if e.outcome == outcome]
                if found:
                    break
            if len(found) != 1 and len(data.get("members") or []) == 1:
                found = [None]
                member_key = data["members"][0]["key"]
            elif len(found) != 1:
                raise CaseError(f"“{programme.name}”以个人为单位，请选择为哪位家庭成员申请。", step="plan")
            else:
                member_key = found[0].person
        entry = plan.get(f"{code}:{member_key}" if member_key else code)
        if entry is not None and not entry.offered:
            why = entry.notes[0] if entry.notes else entry.outcome_label
            who = f"{entry.person_name}的" if entry.person_name else ""
            raise CaseError(f"{who}“{programme.name}”不能申请：{why}。", step="plan")
        chosen.append((programme, member_key))
    return chosen
