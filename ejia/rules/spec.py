"""What goes into the engine (programme specs, one household) and what comes out (results)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Target = Literal["household", "member"]
CriterionOutcome = Literal["pass", "fail", "unknown"]


class Outcome(StrEnum):
    ELIGIBLE = "eligible"
    POSSIBLY = "possibly_eligible"
    NOT = "not_eligible"

    @classmethod
    def from_kleene(cls, value: bool | None) -> Outcome:
        if value is None:
            return cls.POSSIBLY
        return cls.ELIGIBLE if value else cls.NOT


@dataclass(frozen=True)
class CriterionSpec:
    label: str
    expr: str


@dataclass(frozen=True)
class ProgrammeSpec:
    code: str
    name: str
    target: Target
    criteria: tuple[CriterionSpec, ...]
    amount: str | None = None
    department: str = ""


@dataclass
class HouseholdInput:
    """One household as the engine sees it.

    `facts` are household facts, `members` one dict of member facts each; a missing key or
    None means unknown. `standards` maps a standard kind to its amount in fen for this
    household's region on the evaluation date.
    """

    facts: dict[str, Any] = field(default_factory=dict)
    members: list[dict[str, Any]] = field(default_factory=list)
    standards: dict[str, int] = field(default_factory=dict)


class CriterionResult:
    """One criterion's result for one household or member.

    `values` and `explanation` may be given as zero-argument callables: the engine writes
    them only when someone reads them (a screen shows a few; a bulk caller none).
    """

    __slots__ = ("_explanation", "_values", "expr", "label", "result")

    def __init__(
        self,
        label: str,
        expr: str,
        result: CriterionOutcome,
        values: dict[str, Any] | Callable[[], dict[str, Any]],
        explanation: str | Callable[[], str],
    ) -> None:
        self.label = label
        self.expr = expr
        self.result = result
        self._values = values
        self._explanation = explanation

    @property
    def values(self) -> dict[str, Any]:
        if callable(self._values):
            self._values = self._values()
        return self._values

    @property
    def explanation(self) -> str:
        if callable(self._explanation):
            self._explanation = self._explanation()
        return self._explanation

    @property
    def sentence(self) -> str:
        """A plain sentence for a condition not met (the engine writes one; "" otherwise)."""
        return ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CriterionResult):
            return NotImplemented
        return (self.label, self.expr, self.result, self.values, self.explanation) == (
            other.label,
            other.expr,
            other.result,
            other.values,
            other.explanation,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CriterionResult(label={self.label!r}, result={self.result!r}, explanation={self.explanation!r})"

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "result": self.result,
            "values": {k: _jsonable(v) for k, v in self.values.items()},
            "explanation": self.explanation,
        }


@dataclass
class MemberResult:
    index: int
    outcome: Outcome
    amount_fen: int | None
    criteria: list[CriterionResult]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "result": str(self.outcome),
            "amount_fen": self.amount_fen,
            "criteria": [c.to_json() for c in self.criteria],
        }


@dataclass
class ProgrammeResult:
    code: str
    name: str
    target: Target
    outcome: Outcome
    amount_fen: int | None
    criteria: list[CriterionResult]
    members: list[MemberResult] = field(default_factory=list)
    unknown_facts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "target": self.target,
            "result": str(self.outcome),
            "amount_fen": self.amount_fen,
            "criteria": [c.to_json() for c in self.criteria],
            "unknown_facts": list(self.unknown_facts),
        }
        if self.target == "member":
            data["members"] = [m.to_json() for m in self.members]
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
