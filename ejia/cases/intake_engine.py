"""One intake for every channel: the window, the village station, the grid worker and the citizen.

The two wizards (`intake_views` for staff, `citizen_apply` for the citizen) are configurations of
this module: each page is one step of a channel's sequence, and what differs between channels is
data (`ChannelRules`), not code — which steps it has, whether the registry may pre-fill, whether
the card reader is offered, whether the applicant's consent to a proxy is needed, whether the
applicant proved their phone by SMS, whether members left off the form leave the household.

Everything the channels share lives here once: the plan step (`plan_for`, `offered_entries`,
`programmes_choose`), the authorisation check (`authorisation_problems`), the refusal → step map
(`step_for_refusal`) and the submission (`submit`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from ejia.cases.matching import draft_plan, relevant_to
from ejia.cases.models import Case, Channel
from ejia.cases.services import CaseError, adults_without_authorisation, case_submit, duplicates_refuse_draft
from ejia.catalogue.plan import Plan, PlanEntry, PlanOutcome
from ejia.core import idnumber

# Facts only a person in work can have, and the one a person applying from home cannot:
# online, a programme that hangs on them is not offered to a household that cannot meet them.
WORK_FACTS = frozenset({"union_member", "employment"})
HOMELESS_FACTS = frozenset({"wandering"})
WORKING_AGE = (16, 60)


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    url_name: str


@dataclass(frozen=True)
class ChannelRules:
    channel: str
    steps: tuple[Step, ...]
    prefill_from_registry: bool  # the registry and the population base may fill the form
    card_reader: bool  # the ID card reader is offered at the first step
    proxy_consent: bool  # the applicant signs that the grid worker applies for them
    sms_identity: bool  # the applicant proved their phone number by an SMS code
    moves_members: bool  # registered members left off the form leave the household
    offers_everything: bool  # staff see the whole plan; the citizen only what may apply

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)

    def index(self, key: str) -> int:
        return [s.key for s in self.steps].index(key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.steps)


STAFF_STEPS = (
    Step("start", "身份证", "cases:intake_start"),
    Step("household", "家庭成员", "cases:intake_household"),
    Step("needs", "困难情况", "cases:intake_needs"),
    Step("plan", "救助方案", "cases:intake_plan"),
    Step("authorise", "授权签字", "cases:intake_authorise"),
    Step("materials", "材料与提交", "cases:intake_materials"),
)
CITIZEN_STEPS = (
    Step("start", "申请人", "citizen:apply"),
    Step("place", "住在哪里", "citizen:apply_place"),
    Step("household", "家庭成员", "citizen:apply_members"),
    Step("needs", "遇到的困难", "citizen:apply_needs"),
    Step("plan", "申请项目", "citizen:apply_programmes"),
    Step("authorise", "授权签字", "citizen:apply_sign"),
    Step("materials", "核对提交", "citizen:apply_check"),
)

RULES: dict[str, ChannelRules] = {
    Channel.WINDOW: ChannelRules(
        Channel.WINDOW,
        STAFF_STEPS,
        prefill_from_registry=True,
        card_reader=True,
        proxy_consent=False,
        sms_identity=False,
        moves_members=True,
        offers_everything=True,
    ),
    Channel.STATION: ChannelRules(
        Channel.STATION,
        STAFF_STEPS,
        prefill_from_registry=True,
        card_reader=True,
        proxy_consent=False,
        sms_identity=False,
        moves_members=True,
        offers_everything=True,
    ),
    Channel.GRID_PROXY: ChannelRules(
        Channel.GRID_PROXY,
        STAFF_STEPS,
        prefill_from_registry=True,
        card_reader=False,  # a phone in a living room has no card reader
        proxy_consent=True,
        sms_identity=False,
        moves_members=True,
        offers_everything=True,
    ),
    Channel.SELF_SERVICE: ChannelRules(
        Channel.SELF_SERVICE,
        CITIZEN_STEPS,
        # A citizen typing an ID number must not learn who else is registered with that person.
        prefill_from_registry=False,
        card_reader=False,
        proxy_consent=False,
        sms_identity=True,
        moves_members=False,
        offers_everything=False,
    ),
}


def rules_for(channel: str) -> ChannelRules:
    return RULES[Channel(channel)]


# ---------------------------------------------------------------- the plan step


def plan_for(data: dict, on: dt.date | None = None) -> Plan:
    return draft_plan(data, on or timezone.localdate())


def _ages(data: dict, on: dt.date) -> dict[str, int]:
    ages = {}
    for member in data.get("members") or []:
        try:
            ages[member["key"]] = idnumber.parse(member["id_number"]).age_on(on)
        except idnumber.InvalidIdNumber:
            continue
    return ages


def citizen_may_apply(entry: PlanEntry, data: dict, on: dt.date) -> bool:
    """Whether a programme the plan leaves open ("possible") can still apply to this household.

    Age and sex are known from the ID numbers, so the plan already rules out what they exclude;
    what stays open are facts the citizen was not asked. Two of them are settled by who is
    applying: nobody applying from home online is a 流浪乞讨 person, and nobody outside working
    age is an employee (工会会员, 就业状况)."""
    unknown = set(entry.unknown_facts)
    if unknown & HOMELESS_FACTS:
        return False
    if unknown & WORK_FACTS:
        ages = _ages(data, on)
        concerned = [ages[entry.person]] if entry.person in ages else list(ages.values())
        low, high = WORKING_AGE
        if not any(low <= age < high for age in concerned):
            return False
    return True


def offered_entries(plan: Plan, data: dict, rules: ChannelRules, on: dt.date | None = None) -> list[PlanEntry]:
    """What the plan step offers to tick. Staff see the whole plan (grouped by the template); the
    citizen sees what is likely, and what is possible for the needs they stated and may apply."""
    on = on or timezone.localdate()
    if rules.offers_everything:
        return [e for e in plan if e.offered]
    needs = data.get("needs") or []
    return [
        e
        for e in plan
        if e.outcome == PlanOutcome.LIKELY
        or (e.outcome == PlanOutcome.POSSIBLE and relevant_to(e, needs) and citizen_may_apply(e, data, on))
    ]


def programmes_choose(data: dict, plan: Plan, keys: list[str], rules: ChannelRules) -> list[str]:
    """Keep the ticked keys the plan offers on this channel; refuse (CaseError naming the
    reference) a programme the household already has open."""
    allowed = {e.key for e in plan if e.offered}
    chosen = [k for k in dict.fromkeys(keys) if k in allowed]
    duplicates_refuse_draft(data, chosen)
    return chosen


# ---------------------------------------------------------------- the authorisation check


def authorisation_problems(data: dict, rules: ChannelRules, on: dt.date | None = None) -> dict[str, str]:
    """What is still missing before the application may be submitted: every adult's signed
    authorisation for the economic check and, for a proxy, the applicant's consent."""
    problems: dict[str, str] = {}
    missing = adults_without_authorisation(data, on or timezone.localdate())
    if missing:
        problems["missing"] = f"以下成年家庭成员尚未签署核对授权书：{'、'.join(missing)}。"
    if rules.proxy_consent and not (data.get("proxy_consent") and data.get("proxy_signature")):
        problems["proxy"] = "网格员代办须取得申请人同意：请勾选并由申请人签名确认。"
    return problems


# ---------------------------------------------------------------- refusals and the submission


def step_for_refusal(rules: ChannelRules, exc: CaseError) -> str:
    """The URL name of the step that can put right what the submission refused."""
    key = exc.step if exc.step in rules.keys else "materials"
    return rules.step(key).url_name


def submit(*, rules: ChannelRules, actor, idempotency_key: str, data: dict) -> Case:
    """The one submission of every channel (case_submit checks and locks; see there)."""
    data = {**data, "blind": bool(data.get("blind")) or not rules.moves_members}
    return case_submit(actor=actor, channel=rules.channel, idempotency_key=idempotency_key, data=data)
