"""The one table of allowed moves. Every service looks its move up here before it acts.

A row reads: from this state, by this action, to that state, by these roles. `step_role`
rows additionally require the actor to hold the current step's role at the acting unit
(who acts is data in the procedure template) and, once a colleague has claimed the request,
to be that colleague; `at_decision` rows only apply at the step that decides, `at_notice`
rows only at a public-notice step.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _

from ejia.accounts.models import Role
from ejia.cases.workflow.models import ProcedureState as S


class Action(models.TextChoices):
    START = "start", _("开始办理")
    COMPLETE = "complete", _("办结本环节")
    PUBLISH_NOTICE = "publish_notice", _("发布公示")
    CLOSE_NOTICE = "close_notice", _("公示期满")
    RETURN = "return", _("退回上一环节")
    APPROVE = "approve", _("批准")
    REFUSE = "refuse", _("不予批准")
    WITHDRAW = "withdraw", _("申请人撤回")
    ESCALATE = "escalate", _("超期督办")
    CLAIM = "claim", _("认领")
    RELEASE = "release", _("释放认领")


@dataclass(frozen=True)
class Move:
    action: str
    source: str | None
    target: str
    roles: frozenset[str]
    step_role: bool = False
    at_decision: bool | None = None  # True: only at the deciding step; False: never there
    at_notice: bool | None = None
    system_allowed: bool = False


_HANDLERS = frozenset({Role.WINDOW_CLERK, Role.VILLAGE_CLERK, Role.COUNTY_REVIEWER, Role.DEPT_APPROVER})
_DECIDERS = frozenset({Role.WINDOW_CLERK, Role.COUNTY_REVIEWER, Role.DEPT_APPROVER})
_SUPERVISORS = frozenset({Role.COUNTY_REVIEWER, Role.CENTRE_DIRECTOR})

TRANSITIONS: tuple[Move, ...] = (
    Move(Action.START, None, S.PENDING, frozenset(), system_allowed=True),
    Move(Action.COMPLETE, S.PENDING, S.PENDING, _HANDLERS, step_role=True, at_decision=False, at_notice=False),
    Move(Action.PUBLISH_NOTICE, S.PENDING, S.IN_NOTICE, _HANDLERS, step_role=True, at_notice=True),
    Move(Action.CLOSE_NOTICE, S.IN_NOTICE, S.PENDING, _HANDLERS, step_role=True, at_notice=True),
    Move(Action.RETURN, S.PENDING, S.PENDING, _HANDLERS, step_role=True),
    Move(Action.RETURN, S.IN_NOTICE, S.PENDING, _HANDLERS, step_role=True),
    Move(Action.APPROVE, S.PENDING, S.APPROVED, _DECIDERS, step_role=True, at_decision=True),
    Move(Action.REFUSE, S.PENDING, S.REFUSED, _DECIDERS, step_role=True, at_decision=True),
    # Without a staff actor: the applicant withdrawing from the citizen tracker, the service
    # having matched the SMS-verified phone with the case's on the locked row.
    Move(
        Action.WITHDRAW,
        S.PENDING,
        S.WITHDRAWN,
        frozenset({Role.WINDOW_CLERK, Role.VILLAGE_CLERK}),
        system_allowed=True,
    ),
    Move(
        Action.WITHDRAW,
        S.IN_NOTICE,
        S.WITHDRAWN,
        frozenset({Role.WINDOW_CLERK, Role.VILLAGE_CLERK}),
        system_allowed=True,
    ),
    Move(Action.ESCALATE, S.PENDING, S.PENDING, _SUPERVISORS, system_allowed=True),
    Move(Action.ESCALATE, S.IN_NOTICE, S.IN_NOTICE, _SUPERVISORS, system_allowed=True),
    Move(Action.CLAIM, S.PENDING, S.PENDING, _HANDLERS, step_role=True),
    Move(Action.CLAIM, S.IN_NOTICE, S.IN_NOTICE, _HANDLERS, step_role=True),
    Move(Action.RELEASE, S.PENDING, S.PENDING, _HANDLERS, step_role=True),
    Move(Action.RELEASE, S.IN_NOTICE, S.IN_NOTICE, _HANDLERS, step_role=True),
)

# Moves anyone of the acting unit may make whoever has claimed the request.
UNCLAIMED_OK = frozenset({Action.CLAIM, Action.RELEASE, Action.ESCALATE, Action.WITHDRAW})


def move_for(action: str, source: str | None) -> Move | None:
    for move in TRANSITIONS:
        if move.action == action and move.source == source:
            return move
    return None


def actions_from(state: str) -> list[str]:
    return [m.action for m in TRANSITIONS if m.source == state]
