"""Which roles a staff member may hold at which unit, and which roles stand alone.

A role is a job at a kind of unit: village stations take in applications, the township window
handles them, the county centre reviews, a department decides on what is routed to it. A role
at the wrong kind of unit would give the person a scope their job does not have (a window
clerk's reach over a whole county, a department approver without a department), so the access
policy's promises hold only if accounts are set up this way. Both the forms (to show the
message next to the field) and the services (so no caller gets round it) ask this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ejia.accounts.models import Division, OrgUnit, Role

K, L = OrgUnit.Kind, Division.Level


@dataclass(frozen=True)
class Posting:
    """Where a role may be held: unit kinds, and (if set) only at these division levels."""

    kinds: frozenset[str]
    levels: frozenset[str] = frozenset()


POSTINGS: dict[str, Posting] = {
    Role.VILLAGE_CLERK: Posting(frozenset({K.STATION})),
    Role.GRID_WORKER: Posting(frozenset({K.STATION})),
    Role.WINDOW_CLERK: Posting(frozenset({K.WINDOW})),
    # 县级审核 is the county centre's job; the city centre directs, it does not review cases.
    Role.COUNTY_REVIEWER: Posting(frozenset({K.CENTRE}), frozenset({L.COUNTY})),
    Role.CENTRE_DIRECTOR: Posting(frozenset({K.CENTRE})),
    Role.DEPT_APPROVER: Posting(frozenset({K.DEPARTMENT})),
    # The catalogue and the department data are city-wide: maintained at city level.
    Role.CATALOGUE_EDITOR: Posting(frozenset({K.DEPARTMENT}), frozenset({L.CITY})),
    Role.EXCHANGE_OPERATOR: Posting(frozenset({K.CENTRE}), frozenset({L.CITY})),
    Role.AUDITOR: Posting(frozenset({K.CENTRE})),
    Role.SYSADMIN: Posting(frozenset({K.CENTRE})),
    # A city or county leader reads the statistics through the assistance centre's account set.
    Role.LEADER: Posting(frozenset({K.CENTRE})),
}

# Separation of duties: whoever manages accounts must not also handle cases (they could grant
# themselves any reach), and whoever audits must not audit their own work.
STANDALONE = {
    Role.SYSADMIN: gettext_lazy("系统管理员不能兼任其他角色：管理账号与办理救助业务须由不同人员承担。"),
    Role.AUDITOR: gettext_lazy("审计员不能兼任其他角色：审计员不能审计自己经办的事项。"),
}


def _where(posting: Posting) -> str:
    kinds = "或".join(str(OrgUnit.Kind(k).label) for k in sorted(posting.kinds))
    if not posting.levels:
        return kinds
    levels = "或".join(str(Division.Level(level).label) for level in sorted(posting.levels))
    return f"{levels}级{kinds}"


def where_text(role: str) -> str:
    """Where `role` may be held, in words ("县（区、市）级社会救助管理服务中心")."""
    return _where(POSTINGS[role])


def role_problems(*, unit: OrgUnit | None, roles: Iterable[str]) -> list[str]:
    """Plain Chinese sentences, one per problem; empty when the roles fit the unit."""
    roles = sorted(set(roles))
    problems: list[str] = []
    if not roles:
        return [_("请至少选择一个角色。")]
    for role in roles:
        if role in STANDALONE and len(roles) > 1:
            problems.append(str(STANDALONE[role]))
    if unit is None:
        return problems
    for role in roles:
        posting = POSTINGS[role]
        level = unit.division.level
        if unit.kind in posting.kinds and (not posting.levels or level in posting.levels):
            continue
        problems.append(
            _("“%(role)s”须在%(where)s任职，所选单位“%(unit)s”是%(level)s级%(kind)s。")
            % {
                "role": Role(role).label,
                "where": _where(posting),
                "unit": unit.name,
                "level": Division.Level(level).label,
                "kind": unit.get_kind_display(),
            }
        )
    return problems


def lockout_problems(*, actor, user, roles: Iterable[str], is_active: bool) -> list[str]:
    """An administrator may not lock themselves out: the last step of a mistake would leave
    nobody to undo it."""
    if actor is None or actor.pk != user.pk:
        return []
    problems = []
    if not is_active:
        problems.append(_("不能停用自己的账号，请由其他系统管理员办理。"))
    if Role.SYSADMIN in user.role_codes and Role.SYSADMIN not in set(roles):
        problems.append(_("不能取消自己的系统管理员角色，请由其他系统管理员办理。"))
    return problems
