"""Combination rules (组合规则): which programmes cannot be held together, which one wins, and
which programme needs another — as catalogue data, checked like a rule, applied by the plan.

- `excludes`: A and B are not held together (by the same person, or in the same household);
  when both would apply, the one already received wins, else the likely one, else the larger
  amount.
- `precedes`: A takes precedence over B — they are exclusive and A wins (特困 over 低保).
- `requires`: A needs one of the programmes it names (rows of one programme are alternatives):
  the medical-aid tiers follow the family's 特困 / 低保 / 低保边缘 / 支出型 status.

Pure Python: the checker serves the editor's live check, the seed test and the plan builder.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ejia.catalogue.plan import ACTIVE, Period, PlanEntry, PlanOutcome

EXCLUDES, PRECEDES, REQUIRES = "excludes", "precedes", "requires"
PERSON, HOUSEHOLD = "person", "household"
KIND_LABELS = {EXCLUDES: "不可同时享受", PRECEDES: "优先于（不可同时享受）", REQUIRES: "须同时符合"}
SCOPE_LABELS = {PERSON: "同一人", HOUSEHOLD: "同一家庭"}


class CombinationError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Combination:
    programme: str
    kind: str
    other: str
    scope: str = PERSON
    note: str = ""


def check_combinations(rules: Sequence[Combination], names: dict[str, str]) -> None:
    """Refuse unknown codes, duplicates, a programme combined with itself, contradictions
    (A requires B yet excludes it; A before B and B before A) and cycles of precedence or of
    requirements. `names` maps every programme code in the catalogue to its name."""

    def n(code: str) -> str:
        return f"“{names.get(code, code)}”"

    seen: set[tuple[str, str, str]] = set()
    for r in rules:
        for code in (r.programme, r.other):
            if code not in names:
                raise CombinationError(f"组合规则中有未知的项目代码“{code}”。")
        if r.kind not in KIND_LABELS:
            raise CombinationError(f"未知的组合规则类型“{r.kind}”，应为：不可同时享受、优先于或须同时符合。")
        if r.scope not in SCOPE_LABELS:
            raise CombinationError(f"未知的适用范围“{r.scope}”，应为同一人或同一家庭。")
        if r.programme == r.other:
            raise CombinationError(f"{n(r.programme)}不能与自身组合。")
        key = (r.programme, r.kind, r.other)
        if key in seen:
            raise CombinationError(f"{n(r.programme)}与{n(r.other)}的“{KIND_LABELS[r.kind]}”规则重复。")
        seen.add(key)
    exclusive = {frozenset((r.programme, r.other)) for r in rules if r.kind in (EXCLUDES, PRECEDES)}
    for r in rules:
        if r.kind == REQUIRES and frozenset((r.programme, r.other)) in exclusive:
            raise CombinationError(f"规则自相矛盾：{n(r.programme)}须同时符合{n(r.other)}，却又与它不可同时享受。")
    before = defaultdict(set)
    for r in rules:
        if r.kind == PRECEDES:
            before[r.programme].add(r.other)
    for r in rules:
        if r.kind == PRECEDES and r.programme in before.get(r.other, set()):
            raise CombinationError(
                f"规则自相矛盾：{n(r.programme)}优先于{n(r.other)}，{n(r.other)}又优先于{n(r.programme)}。"
            )
    _acyclic(before, n, "优先顺序存在循环")
    needs = defaultdict(set)
    for r in rules:
        if r.kind == REQUIRES:
            needs[r.programme].add(r.other)
    _acyclic(needs, n, "“须同时符合”存在循环")


def _acyclic(graph: dict[str, set[str]], n, what: str) -> None:
    state: dict[str, int] = {}

    def visit(code: str, path: list[str]) -> None:
        state[code] = 1
        for nxt in sorted(graph.get(code, ())):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [code, nxt]
                raise CombinationError(f"{what}：" + " → ".join(n(c) for c in cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[code] = 2

    for code in sorted(graph):
        if code not in state:
            visit(code, [code])


# ---------------------------------------------------------------- applying them to a plan


def _monthly_value(e: PlanEntry) -> int:
    amount = (e.received.amount_fen if e.received else e.amount_fen) or 0
    if e.period == Period.MONTHLY:
        return amount
    return amount // 12 if e.amount_per == "year" else 0


def _rank(e: PlanEntry) -> tuple:
    return (
        e.outcome == PlanOutcome.ALREADY_RECEIVED,
        e.outcome == PlanOutcome.LIKELY,
        _monthly_value(e),
    )


def _certainty(e: PlanEntry) -> int:
    return {PlanOutcome.ALREADY_RECEIVED: 2, PlanOutcome.LIKELY: 1}.get(e.outcome, 0)


def _excluded(loser: PlanEntry, winner: PlanEntry, rule: Combination) -> PlanEntry:
    notes = [f"不可同时享受：已按“{winner.name}”评估"]
    if rule.note:
        notes.append(rule.note)
    return replace(
        loser,
        outcome=PlanOutcome.EXCLUDED,
        excluded_by=winner.code,
        excluded_by_name=winner.name,
        notes=tuple(notes),
    )


def apply_combinations(
    entries: list[PlanEntry], rules: Sequence[Combination], *, members: Iterable[str]
) -> list[PlanEntry]:
    """Mark the entries the rules take out: the loser of each exclusive pair becomes
    `excluded` ("不可同时享受：已按 X 评估"), an entry whose required programme is not there
    becomes `unlikely` with the reason. Repeated until nothing changes (an exclusion can take
    away what another programme required)."""
    members = [m for m in members if m]
    out = list(entries)
    exclusive = [r for r in rules if r.kind == PRECEDES] + [r for r in rules if r.kind == EXCLUDES]
    requires: dict[str, list[Combination]] = defaultdict(list)
    for r in rules:
        if r.kind == REQUIRES:
            requires[r.programme].append(r)
    for _ in range(len(out) + 1):
        changed = False
        for rule in exclusive:
            for i, a in enumerate(out):
                if a.code != rule.programme or a.outcome not in ACTIVE:
                    continue
                for _j, b in enumerate(out):
                    if b.code != rule.other or b.outcome not in ACTIVE:
                        continue
                    result = _resolve(out, a, b, rule, members)
                    if result is not None:
                        index, entry = result
                        out[index] = entry
                        changed = True
                        a = out[i]
                        if a.outcome not in ACTIVE:
                            break
        for i, a in enumerate(out):
            if a.outcome not in (PlanOutcome.LIKELY, PlanOutcome.POSSIBLE) or a.code not in requires:
                continue
            alternatives = requires[a.code]
            if any(_has(out, r.other, a.person if r.scope == PERSON else None) for r in alternatives):
                continue
            names = "、".join(f"“{_name(out, r.other)}”" for r in alternatives)
            notes = [f"须同时符合{names}之一，目前不符合或不能同时享受"]
            notes += [r.note for r in alternatives if r.note]
            out[i] = replace(a, outcome=PlanOutcome.UNLIKELY, notes=tuple(dict.fromkeys(notes)))
            changed = True
        if not changed:
            break
    return out


def _name(entries: list[PlanEntry], code: str) -> str:
    return next((e.name for e in entries if e.code == code), code)


def _has(entries: list[PlanEntry], code: str, person: str | None) -> bool:
    """An active entry of `code` for that person (a household entry covers everyone)."""
    return any(
        e.code == code and e.outcome in ACTIVE and (person is None or not e.person or not person or e.person == person)
        for e in entries
    )


def _resolve(out: list[PlanEntry], a: PlanEntry, b: PlanEntry, rule: Combination, members: list[str]):
    """The exclusion of one pair: (index, changed entry) or None when they do not meet."""
    if rule.scope == PERSON and a.person and b.person and a.person != b.person:
        return None
    if rule.kind == PRECEDES:
        winner, loser = a, b
    else:
        winner, loser = (a, b) if _rank(a) >= _rank(b) else (b, a)
    if loser.outcome == PlanOutcome.ALREADY_RECEIVED and winner.outcome != PlanOutcome.ALREADY_RECEIVED:
        # What the family holds is never taken away by a plan; the new one says what it replaces.
        note = f"批准后将替代已享受的“{loser.name}”，不再同时享受"
        if note in winner.notes:
            return None
        return out.index(winner), replace(winner, notes=(*winner.notes, note))
    if winner.outcome == PlanOutcome.ALREADY_RECEIVED and loser.outcome == PlanOutcome.ALREADY_RECEIVED:
        return None  # both already held: a matter for 动态管理, not for a new plan
    if _certainty(winner) == 0 or _certainty(winner) < _certainty(loser):
        # A winner that still needs verifying takes nothing away: the window is told what
        # happens if it is confirmed.
        note = f"如核实后符合“{winner.name}”，则按“{winner.name}”办理，不同时享受本项目"
        if note in loser.notes:
            return None
        return out.index(loser), replace(loser, notes=(*loser.notes, note))
    if rule.scope == PERSON and not loser.person and winner.person:
        # A household programme against a programme of some members: it goes only when every
        # member is covered by the winner; otherwise it stays, and the window is told.
        covered = {
            e.person
            for e in out
            if e.code == winner.code and e.outcome in ACTIVE and e.person and _certainty(e) >= max(_certainty(loser), 1)
        }
        if not set(members) <= covered:
            names = "、".join(
                e.person_name for e in out if e.code == winner.code and e.person in covered and e.person_name
            )
            note = f"{names or '部分成员'}已按“{winner.name}”评估，不同时享受本项目（金额以审核核定为准）"
            if note in loser.notes:
                return None
            return out.index(loser), replace(loser, notes=(*loser.notes, note))
    return out.index(loser), _excluded(loser, winner, rule)
