"""综合救助方案: the one typed plan of a household, and its one JSON codec.

Matching writes a `Plan`; intake (staff and citizen), the receipt, the verification report,
the department pages, decisions, dynamic re-evaluation and disbursement read it. Nothing else
crosses an app boundary as a plan: a field named `result` in one app and `outcome` in another
once left every per-member benefit unpaid.

One entry per programme and household, or — for a programme paid to a person — per member
(`person` is the person's public id, or the intake form's member key before the person exists).
Pure Python, no Django: the builder lives in `ejia.catalogue.planning`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 2


class PlanError(Exception):
    """A plan cannot be made or read; `message` is Chinese, for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PlanOutcome(StrEnum):
    LIKELY = "likely"
    POSSIBLE = "possible"
    UNLIKELY = "unlikely"
    EXCLUDED = "excluded"
    ALREADY_RECEIVED = "already_received"

    @property
    def label(self) -> str:
        return OUTCOME_LABELS[self]

    @classmethod
    def from_engine(cls, outcome: str) -> PlanOutcome:
        """The rule engine's three values (eligible / possibly_eligible / not_eligible)."""
        return {"eligible": cls.LIKELY, "possibly_eligible": cls.POSSIBLE}.get(str(outcome), cls.UNLIKELY)


OUTCOME_LABELS = {
    PlanOutcome.LIKELY: "可能符合",
    PlanOutcome.POSSIBLE: "需要核实",
    PlanOutcome.UNLIKELY: "暂不符合",
    PlanOutcome.EXCLUDED: "不可同时享受",
    PlanOutcome.ALREADY_RECEIVED: "已享受",
}
# Best first: the order the window and the receipt list entries in.
OUTCOME_ORDER = {
    PlanOutcome.ALREADY_RECEIVED: 0,
    PlanOutcome.LIKELY: 1,
    PlanOutcome.POSSIBLE: 2,
    PlanOutcome.EXCLUDED: 3,
    PlanOutcome.UNLIKELY: 4,
}
ACTIVE = (PlanOutcome.LIKELY, PlanOutcome.POSSIBLE, PlanOutcome.ALREADY_RECEIVED)


class Period(StrEnum):
    """How the amount reaches the household: cash every month, cash once (or once a year),
    or not as cash at all (services, goods, subsidised premiums, fee waivers)."""

    MONTHLY = "monthly"
    ONE_OFF = "one_off"
    IN_KIND = "in_kind"

    @property
    def label(self) -> str:
        return {"monthly": "按月现金", "one_off": "一次性现金", "in_kind": "服务、实物或减免"}[self.value]

    @classmethod
    def for_form(cls, benefit_form: str) -> Period:
        return {"monthly_cash": cls.MONTHLY, "one_off_cash": cls.ONE_OFF}.get(benefit_form, cls.IN_KIND)


PER_LABELS = {"month": "/月", "year": "/年", "once": ""}


@dataclass(frozen=True)
class PlanCriterion:
    """One condition as the engine judged it: `sentence` is for the applicant (a plain
    sentence for a failed or unknown condition), `explanation` the formal line for staff."""

    label: str
    result: bool | None
    explanation: str = ""
    sentence: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "result": self.result, "explanation": self.explanation, "sentence": self.sentence}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanCriterion:
        result = data.get("result")
        return cls(
            label=str(data["label"]),
            result=result if result in (True, False) else None,
            explanation=str(data.get("explanation") or ""),
            sentence=str(data.get("sentence") or ""),
        )


@dataclass(frozen=True)
class Received:
    """What the household already gets of a programme: from a live entitlement (amount and the
    first month) or a registry status (since its start; the amount stays with the old decision)."""

    since: dt.date | None
    amount_fen: int | None = None
    source: str = "entitlement"  # entitlement | status

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "amount_fen": self.amount_fen,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Received:
        since = data.get("since")
        return cls(
            since=dt.date.fromisoformat(since) if since else None,
            amount_fen=data.get("amount_fen"),
            source=str(data.get("source") or "entitlement"),
        )


@dataclass(frozen=True)
class PlanMember:
    ref: str  # person public id, or the intake form's member key
    name: str

    def to_json(self) -> dict[str, str]:
        return {"ref": self.ref, "name": self.name}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanMember:
        return cls(ref=str(data["ref"]), name=str(data.get("name") or ""))


@dataclass(frozen=True)
class PlanEntry:
    code: str
    name: str
    department: str
    department_code: str
    category: str
    benefit_form: str
    target: str  # household | member
    outcome: PlanOutcome
    period: Period
    amount_fen: int | None = None
    amount_per: str = ""  # month | year | once | "" (the catalogue's amount_period)
    person: str = ""  # member programmes: the person's public id (intake: the form's member key)
    person_name: str = ""
    reasons: tuple[PlanCriterion, ...] = ()
    unknown_facts: tuple[str, ...] = ()
    unknown_labels: tuple[str, ...] = ()
    excluded_by: str = ""  # the programme code that wins (combination rules)
    excluded_by_name: str = ""
    notes: tuple[str, ...] = ()  # why excluded, or what else the window must know
    received: Received | None = None
    materials: tuple[str, ...] = ()
    application_notes: tuple[str, ...] = ()  # "无需个人申请" and the like: not papers to bring

    @property
    def key(self) -> str:
        """What the window ticks: the programme, or the programme for one member."""
        return f"{self.code}:{self.person}" if self.person else self.code

    @property
    def outcome_label(self) -> str:
        return self.outcome.label

    @property
    def is_member(self) -> bool:
        return self.target == "member"

    @property
    def amount_label(self) -> str:
        return PER_LABELS.get(self.amount_per, "")

    @property
    def offered(self) -> bool:
        """Whether the window may tick it: never what the family already has or cannot combine,
        nor a programme paid to a person that names nobody."""
        if self.is_member and not self.person:
            return False
        return self.outcome in (PlanOutcome.LIKELY, PlanOutcome.POSSIBLE, PlanOutcome.UNLIKELY)

    @property
    def failed_reasons(self) -> tuple[PlanCriterion, ...]:
        return tuple(c for c in self.reasons if c.result is False)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "department": self.department,
            "department_code": self.department_code,
            "category": self.category,
            "benefit_form": self.benefit_form,
            "target": self.target,
            "outcome": self.outcome.value,
            "period": self.period.value,
            "amount_fen": self.amount_fen,
            "amount_per": self.amount_per,
            "person": self.person,
            "person_name": self.person_name,
            "reasons": [c.to_json() for c in self.reasons],
            "unknown_facts": list(self.unknown_facts),
            "unknown_labels": list(self.unknown_labels),
            "excluded_by": self.excluded_by,
            "excluded_by_name": self.excluded_by_name,
            "notes": list(self.notes),
            "received": self.received.to_json() if self.received else None,
            "materials": list(self.materials),
            "application_notes": list(self.application_notes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanEntry:
        try:
            return cls(
                code=str(data["code"]),
                name=str(data["name"]),
                department=str(data.get("department") or ""),
                department_code=str(data.get("department_code") or ""),
                category=str(data.get("category") or ""),
                benefit_form=str(data.get("benefit_form") or ""),
                target=str(data.get("target") or "household"),
                outcome=PlanOutcome(data["outcome"]),
                period=Period(data["period"]),
                amount_fen=data.get("amount_fen"),
                amount_per=str(data.get("amount_per") or ""),
                person=str(data.get("person") or ""),
                person_name=str(data.get("person_name") or ""),
                reasons=tuple(PlanCriterion.from_json(c) for c in data.get("reasons") or []),
                unknown_facts=tuple(data.get("unknown_facts") or []),
                unknown_labels=tuple(data.get("unknown_labels") or []),
                excluded_by=str(data.get("excluded_by") or ""),
                excluded_by_name=str(data.get("excluded_by_name") or ""),
                notes=tuple(data.get("notes") or []),
                received=Received.from_json(data["received"]) if data.get("received") else None,
                materials=tuple(data.get("materials") or []),
                application_notes=tuple(data.get("application_notes") or []),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise PlanError(f"救助方案中有一项无法读取：{exc}") from None


@dataclass(frozen=True)
class MaterialItem:
    name: str
    programmes: tuple[str, ...]
    online: bool  # signed on screen during intake: in hand already


@dataclass(frozen=True)
class Totals:
    """Money of one household or member: monthly cash already received and newly likely,
    one-off cash newly likely, and the services / in-kind help (names, with their value)."""

    monthly_received_fen: int = 0
    monthly_new_fen: int = 0
    one_off_fen: int = 0
    in_kind: tuple[str, ...] = ()
    in_kind_fen: int = 0

    @property
    def monthly_fen(self) -> int:
        return self.monthly_received_fen + self.monthly_new_fen

    @property
    def empty(self) -> bool:
        return not (self.monthly_fen or self.one_off_fen or self.in_kind)


@dataclass(frozen=True)
class MemberTotals:
    ref: str
    name: str
    totals: Totals


@dataclass(frozen=True)
class Plan:
    on: dt.date
    entries: tuple[PlanEntry, ...]
    members: tuple[PlanMember, ...] = ()
    schema_version: int = SCHEMA_VERSION

    # ---------------------------------------------------------------- the codec

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "on": self.on.isoformat(),
            "members": [m.to_json() for m in self.members],
            "entries": [e.to_json() for e in self.entries],
        }

    @classmethod
    def from_json(cls, data: Any) -> Plan:
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            raise PlanError("救助方案的格式版本不符，请先运行数据库迁移。")
        try:
            on = dt.date.fromisoformat(data["on"])
        except (KeyError, TypeError, ValueError):
            raise PlanError("救助方案缺少评估日期。") from None
        return cls(
            on=on,
            entries=tuple(PlanEntry.from_json(e) for e in data.get("entries") or []),
            members=tuple(PlanMember.from_json(m) for m in data.get("members") or []),
        )

    # ---------------------------------------------------------------- reads

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def by_key(self) -> dict[str, PlanEntry]:
        return {e.key: e for e in self.entries}

    def get(self, key: str) -> PlanEntry | None:
        return self.by_key().get(key)

    def for_code(self, code: str) -> list[PlanEntry]:
        return [e for e in self.entries if e.code == code]

    def with_outcome(self, *outcomes: PlanOutcome) -> list[PlanEntry]:
        return [e for e in self.entries if e.outcome in outcomes]

    def member_name(self, ref: str) -> str:
        return next((m.name for m in self.members if m.ref == ref), "")

    def default_choice(self) -> set[str]:
        """Pre-ticked at the window: what is likely, never what is excluded or already received."""
        return {e.key for e in self.entries if e.outcome == PlanOutcome.LIKELY}

    def renamed(self, refs: dict[str, tuple[str, str]]) -> Plan:
        """The same plan with member refs replaced (the form's member keys → person public ids
        and names at submission)."""
        members = tuple(PlanMember(*refs.get(m.ref, (m.ref, m.name))) for m in self.members)
        entries = tuple(
            replace(e, person=refs[e.person][0], person_name=refs[e.person][1]) if e.person in refs else e
            for e in self.entries
        )
        return replace(self, members=members, entries=entries)

    # ---------------------------------------------------------------- totals

    def totals(self, chosen: Iterable[str] | None = None, *, person: str | None = None) -> Totals:
        """The household's money (or one member's, `person`; "" = household-level entries):
        already received plus newly likely — only the `chosen` keys when given."""
        picked = set(chosen) if chosen is not None else None
        monthly_received = monthly_new = one_off = in_kind_fen = 0
        in_kind: list[str] = []
        for e in self.entries:
            if person is not None and e.person != person:
                continue
            held = e.outcome == PlanOutcome.ALREADY_RECEIVED
            new = e.outcome == PlanOutcome.LIKELY and (picked is None or e.key in picked)
            if not (held or new):
                continue
            amount = (e.received.amount_fen if held and e.received else e.amount_fen) or 0
            if e.period == Period.MONTHLY:
                if held:
                    monthly_received += amount
                else:
                    monthly_new += amount
            elif e.period == Period.ONE_OFF:
                if new:
                    one_off += amount
            else:
                name = e.name if not e.person_name or person is not None else f"{e.name}（{e.person_name}）"
                if name not in in_kind:
                    in_kind.append(name)
                in_kind_fen += amount
        return Totals(monthly_received, monthly_new, one_off, tuple(in_kind), in_kind_fen)

    def member_totals(self, chosen: Iterable[str] | None = None) -> list[MemberTotals]:
        """One row for the household's own programmes, then one per member who gets something."""
        chosen = list(chosen) if chosen is not None else None
        rows = [MemberTotals("", "全家", self.totals(chosen, person=""))]
        for m in self.members:
            totals = self.totals(chosen, person=m.ref)
            if not totals.empty:
                rows.append(MemberTotals(m.ref, m.name, totals))
        return rows

    # ---------------------------------------------------------------- materials

    def materials(self, chosen: Iterable[str]) -> tuple[list[MaterialItem], list[str]]:
        """The papers for the chosen entries, each once, naming its programmes; and the notes
        that are not papers ("无需个人申请", "由医疗机构申报"), each once.

        The verification authorisation is signed on screen during intake, so it is marked as
        already in hand (`online`) rather than asked for again."""
        picked = set(chosen)
        items: dict[str, dict[str, Any]] = {}
        notes: list[str] = []
        for e in self.entries:
            if e.key not in picked and e.code not in picked:
                continue
            for material in e.materials:
                key = material_key(material)
                item = items.setdefault(key, {"name": material, "programmes": [], "online": "授权书" in material})
                if len(material) > len(item["name"]):
                    item["name"] = material
                if e.name not in item["programmes"]:
                    item["programmes"].append(e.name)
            for note in e.application_notes:
                text = f"{e.name}：{note}"
                if text not in notes:
                    notes.append(text)
        return [MaterialItem(i["name"], tuple(i["programmes"]), i["online"]) for i in items.values()], notes


def material_key(name: str) -> str:
    # "授权书（每位成年家庭成员签字）" and "授权书" are the same paper.
    return re.sub(r"[（(].*?[）)]", "", name).strip()


_NOTE = re.compile(r"无需|不需|由.{1,16}(申报|推送|摸排|推荐|统计|识别|上报)|自动识别")


def split_materials(materials: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Papers to bring versus notes on how the programme is applied for. A paper with a note in
    brackets ("身份证或户口簿（由民政部门推送身份信息，一般无需本人申请）") stays a paper."""
    papers, notes = [], []
    for text in materials:
        text = str(text).strip()
        if not text:
            continue
        (notes if _NOTE.search(material_key(text)) else papers).append(text)
    return tuple(papers), tuple(notes)


@dataclass
class _Sorter:
    order: dict[str, int] = field(default_factory=dict)

    def key(self, e: PlanEntry) -> tuple:
        return (OUTCOME_ORDER[e.outcome], e.department_code, self.order.get(e.code, 9999), e.code, e.person)


def sort_entries(entries: Iterable[PlanEntry], order: dict[str, int] | None = None) -> tuple[PlanEntry, ...]:
    return tuple(sorted(entries, key=_Sorter(order or {}).key))
