"""The rule language of eJia Assist: typed facts, checked expressions, two back-ends.

Pure Python — no Django here. See docs/rules.md.
"""

from .checker import check_expression
from .engine import Engine
from .errors import RuleError
from .facts import FACTS, HOUSEHOLD_FACTS, MEMBER_FACTS, STANDARD_KINDS
from .spec import (
    CriterionResult,
    CriterionSpec,
    HouseholdInput,
    MemberResult,
    Outcome,
    ProgrammeResult,
    ProgrammeSpec,
)

__all__ = [
    "FACTS",
    "HOUSEHOLD_FACTS",
    "MEMBER_FACTS",
    "STANDARD_KINDS",
    "CriterionResult",
    "CriterionSpec",
    "Engine",
    "HouseholdInput",
    "MemberResult",
    "Outcome",
    "ProgrammeResult",
    "ProgrammeSpec",
    "RuleError",
    "check_expression",
]
