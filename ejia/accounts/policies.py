"""The access policy: the one place that says who may do what, and on which rows.

Three things decide whether a staff member may see or do something:

- **capability** — what the job needs (read a case file, handle a routed request, edit the
  catalogue …), granted to roles in `GRANTS` below;
- **reach** — on which rows the capability applies, also per role in `GRANTS`: the unit's whole
  area, only the work the person started or holds, only requests routed to the department, or
  the area with a stated purpose per file (the auditor);
- **area** — the unit's division subtree (`ejia.accounts.scope`).

Views declare their capability with `staff_view(...)`; a test walks every URL pattern and fails
on a staff view that declares none. Selectors filter lists with `scope_q(...)`, so a list never
shows a row whose detail page would be refused. A refusal is a `PermissionDenied` with a plain
Chinese sentence; `ejia.core.errors` renders it as the branded 403 page.

Minimum necessary (PIPL Art. 6, 社会救助 privacy rules): a department sees what its own
programme needs, the catalogue editor and the exchange operator never see a person, the system
administrator never reads a family's file, and the auditor reads one only for a stated purpose.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from enum import IntEnum, StrEnum

from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from ejia.accounts.models import Role
from ejia.accounts.scope import scope_for


class Capability(StrEnum):
    """What a job needs. The value is stable (tests and templates name it); the label is the
    plain Chinese the refusal page uses ("您的岗位不能<label>")."""

    CASE_INTAKE = "case_intake"
    CASE_LIST = "case_list"
    CASE_READ = "case_read"
    CASE_WITHDRAW = "case_withdraw"
    VERIFICATION_READ = "verification_read"
    VERIFICATION_RUN = "verification_run"
    VERIFICATION_OUTCOME = "verification_outcome"
    HOUSEHOLD_READ = "household_read"
    ID_REVEAL = "id_reveal"
    PROCEDURE_HANDLE = "procedure_handle"
    NOTICE_READ = "notice_read"
    NOTICE_MANAGE = "notice_manage"
    JOINT_REVIEW = "joint_review"
    ENTITLEMENT_MANAGE = "entitlement_manage"
    PAYMENT_MANAGE = "payment_manage"
    OUTBOX_READ = "outbox_read"
    REVERIFICATION_MANAGE = "reverification_manage"
    CATALOGUE_EDIT = "catalogue_edit"
    EXCHANGE_OPERATE = "exchange_operate"
    AUDIT_READ = "audit_read"
    ACCOUNTS_ADMIN = "accounts_admin"
    LEAD_READ = "lead_read"
    LEAD_ASSIGN = "lead_assign"
    LEAD_VISIT = "lead_visit"
    LEAD_REPORT = "lead_report"
    DISCOVERY_SCAN = "discovery_scan"
    DASHBOARD_READ = "dashboard_read"
    DCI_OPERATE = "dci_operate"
    ACCESS_SEAL_WATCH = "access_seal_watch"
    OPS_HEALTH_WATCH = "ops_health_watch"

    @property
    def label(self) -> str:
        return str(LABELS[self])


LABELS = {
    Capability.CASE_INTAKE: _("受理救助申请"),
    Capability.CASE_LIST: _("查看申请件列表"),
    Capability.CASE_READ: _("查阅申请件（家庭成员、联系方式、困难情况、授权书、回执和决定书）"),
    Capability.CASE_WITHDRAW: _("登记申请人撤回"),
    Capability.VERIFICATION_READ: _("查阅家庭经济状况核对报告全文（存款、就医、纳税等明细）"),
    Capability.VERIFICATION_RUN: _("发起一键核对"),
    Capability.VERIFICATION_OUTCOME: _("查看核对是否完成及差异数量"),
    Capability.HOUSEHOLD_READ: _("查阅救助对象库中的家庭档案"),
    Capability.ID_REVEAL: _("查看完整身份证号码"),
    Capability.PROCEDURE_HANDLE: _("办理救助事项"),
    Capability.NOTICE_READ: _("查看公示"),
    Capability.NOTICE_MANAGE: _("发布公示、登记和处理异议"),
    Capability.JOINT_REVIEW: _("联合审核并出具决定通知书"),
    Capability.ENTITLEMENT_MANAGE: _("动态管理（复核、变更报告、暂停和终止待遇）"),
    Capability.PAYMENT_MANAGE: _("管理一卡发放批次"),
    Capability.OUTBOX_READ: _("查看和重发给群众的短信"),
    Capability.REVERIFICATION_MANAGE: _("办理年度复核批量核对"),
    Capability.CATALOGUE_EDIT: _("维护救助项目"),
    Capability.EXCHANGE_OPERATE: _("导入部门数据"),
    Capability.AUDIT_READ: _("查阅审计日志"),
    Capability.ACCOUNTS_ADMIN: _("管理工作人员账号、单位和角色"),
    Capability.LEAD_READ: _("查看主动发现线索"),
    Capability.LEAD_ASSIGN: _("分派主动发现线索"),
    Capability.LEAD_VISIT: _("登记主动发现线索的走访结果"),
    Capability.LEAD_REPORT: _("上报网格内发现的困难家庭"),
    Capability.DISCOVERY_SCAN: _("发起主动发现数据比对"),
    Capability.DASHBOARD_READ: _("查看大数据统计看板（汇总数字，不含个人信息）"),
    Capability.DCI_OPERATE: _("处理发往合作登记系统的DCI回调（查看投递失败、重新投递）"),
    Capability.ACCESS_SEAL_WATCH: _("查看接口访问记录的封存状态（条数和时间，不含调用内容）"),
    Capability.OPS_HEALTH_WATCH: _("查看系统运行状态（后台任务、每日核验和清理的结果，不含个人信息）"),
}


class Reach(IntEnum):
    """On which rows a granted capability applies. Higher values reach at least as far, so a
    person with two roles gets the wider reach of the two."""

    NONE = 0
    # Only the work the person started, holds (their unit acts on it) or was assigned.
    OWN = 1
    # Only requests routed to the person's department, inside the unit's jurisdiction.
    DEPARTMENT = 2
    # The whole area, but each file is opened only after stating a purpose (audited).
    PURPOSE = 3
    # Everything in the unit's division subtree.
    AREA = 4


C, R = Capability, Reach

# The county (or city) assistance centre's reviewers and its director handle the whole area.
COUNTY_CENTRE: dict[Capability, Reach] = {
    C.CASE_LIST: R.AREA,
    C.CASE_READ: R.AREA,
    C.VERIFICATION_READ: R.AREA,
    C.VERIFICATION_RUN: R.AREA,
    C.VERIFICATION_OUTCOME: R.AREA,
    C.HOUSEHOLD_READ: R.AREA,
    C.ID_REVEAL: R.AREA,
    C.PROCEDURE_HANDLE: R.AREA,
    C.NOTICE_READ: R.AREA,
    C.JOINT_REVIEW: R.AREA,
    C.ENTITLEMENT_MANAGE: R.AREA,
    C.OUTBOX_READ: R.AREA,
    C.PAYMENT_MANAGE: R.AREA,
    C.REVERIFICATION_MANAGE: R.AREA,
    C.LEAD_READ: R.AREA,
    C.LEAD_ASSIGN: R.AREA,
    C.DISCOVERY_SCAN: R.AREA,
    C.DASHBOARD_READ: R.AREA,
}

GRANTS: dict[str, dict[Capability, Reach]] = {
    Role.VILLAGE_CLERK: {
        C.CASE_INTAKE: R.AREA,
        C.CASE_LIST: R.OWN,
        C.CASE_READ: R.OWN,
        C.CASE_WITHDRAW: R.OWN,
        C.VERIFICATION_OUTCOME: R.OWN,
        C.HOUSEHOLD_READ: R.AREA,
        C.PROCEDURE_HANDLE: R.AREA,
        C.NOTICE_READ: R.AREA,
        # The village's leads: she sees them all, hands them to a grid worker or visits herself.
        C.LEAD_READ: R.AREA,
        C.LEAD_ASSIGN: R.AREA,
        C.LEAD_VISIT: R.OWN,
        C.LEAD_REPORT: R.AREA,
    },
    Role.GRID_WORKER: {
        C.CASE_INTAKE: R.AREA,
        C.CASE_LIST: R.OWN,
        C.CASE_READ: R.OWN,
        C.VERIFICATION_OUTCOME: R.OWN,
        C.HOUSEHOLD_READ: R.AREA,
        # Only the leads handed to them or that they reported.
        C.LEAD_READ: R.OWN,
        C.LEAD_VISIT: R.OWN,
        C.LEAD_REPORT: R.AREA,
    },
    Role.WINDOW_CLERK: {
        C.CASE_INTAKE: R.AREA,
        C.CASE_LIST: R.AREA,
        C.CASE_READ: R.AREA,
        C.CASE_WITHDRAW: R.AREA,
        C.VERIFICATION_READ: R.AREA,
        C.VERIFICATION_RUN: R.AREA,
        C.VERIFICATION_OUTCOME: R.AREA,
        C.HOUSEHOLD_READ: R.AREA,
        C.ID_REVEAL: R.AREA,
        C.PROCEDURE_HANDLE: R.AREA,
        C.NOTICE_READ: R.AREA,
        C.NOTICE_MANAGE: R.AREA,
        C.ENTITLEMENT_MANAGE: R.AREA,
        # The township's leads: assigned by village, or visited by the window itself.
        C.LEAD_READ: R.AREA,
        C.LEAD_ASSIGN: R.AREA,
        C.LEAD_VISIT: R.AREA,
        # The township's dashboard (aggregates only).
        C.DASHBOARD_READ: R.AREA,
    },
    Role.COUNTY_REVIEWER: COUNTY_CENTRE,
    Role.CENTRE_DIRECTOR: {
        **COUNTY_CENTRE,
        # The centre coordinates every department's programmes (一口对外), so it may edit all.
        C.CATALOGUE_EDIT: R.AREA,
    },
    # A department decides on what is routed to it, on the minimum-necessary procedure page.
    # Its dashboards show only the department's programmes.
    Role.DEPT_APPROVER: {C.PROCEDURE_HANDLE: R.DEPARTMENT, C.DASHBOARD_READ: R.DEPARTMENT},
    # The catalogue and aggregate counts, never a person; only the own department's programmes.
    Role.CATALOGUE_EDITOR: {C.CATALOGUE_EDIT: R.DEPARTMENT, C.DASHBOARD_READ: R.DEPARTMENT},
    # Department files, import runs and rejected rows; no case or household files.
    Role.EXCHANGE_OPERATOR: {C.EXCHANGE_OPERATE: R.AREA},
    # The auditor also watches the nightly chain check and purge (运行状态: counts and times only).
    Role.AUDITOR: {
        C.AUDIT_READ: R.AREA,
        C.CASE_READ: R.PURPOSE,
        C.ACCESS_SEAL_WATCH: R.AREA,
        C.OPS_HEALTH_WATCH: R.AREA,
    },
    # Accounts, and the platform's own plumbing: DCI callbacks that partners did not take (no
    # person's data: partner, kind, ids and the error only), and whether the access log's seal
    # job keeps up, and whether the background tasks and nightly jobs run and pass (运行状态;
    # counts, times and job names only).
    Role.SYSADMIN: {
        C.ACCOUNTS_ADMIN: R.AREA,
        C.DCI_OPERATE: R.AREA,
        C.ACCESS_SEAL_WATCH: R.AREA,
        C.OPS_HEALTH_WATCH: R.AREA,
    },
    # Leaders steer from the aggregates: the dashboards of their area, never a file.
    Role.LEADER: {C.DASHBOARD_READ: R.AREA},
}


def reach(user, capability: Capability) -> Reach:
    """The widest reach any of the user's roles gives for `capability` (NONE if none)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Reach.NONE
    if scope_for(user).empty:
        return Reach.NONE
    best = Reach.NONE
    for role in user.role_codes:
        best = max(best, GRANTS.get(role, {}).get(capability, Reach.NONE))
    return best


def allows(user, capability: Capability) -> bool:
    return reach(user, capability) != Reach.NONE


def capabilities_of(user) -> frozenset[Capability]:
    return frozenset(c for c in Capability if allows(user, c))


def roles_granting(capability: Capability) -> list[str]:
    return [str(Role(role).label) for role, grants in GRANTS.items() if capability in grants]


def refusal(user, capability: Capability) -> PermissionDenied:
    """A plain sentence: who you are, what you cannot do, who can (in the reader's language)."""
    sep = gettext("、")
    roles = sep.join(str(Role(r).label) for r in sorted(getattr(user, "role_codes", ()) or ()) if r in Role.values)
    who = gettext("您的岗位（%(roles)s）") % {"roles": roles} if roles else gettext("您的账号")
    return PermissionDenied(
        gettext("%(who)s不能%(what)s，这项工作由%(allowed)s办理。如确因工作需要，请联系系统管理员调整岗位权限。")
        % {"who": who, "what": capability.label, "allowed": sep.join(roles_granting(capability))}
    )


def require(user, capability: Capability) -> Reach:
    """The user's reach for `capability`, or PermissionDenied with a plain sentence."""
    found = reach(user, capability)
    if found == Reach.NONE:
        raise refusal(user, capability)
    return found


def require_any(user, *capabilities: Capability) -> Capability:
    for capability in capabilities:
        if allows(user, capability):
            return capability
    raise refusal(user, capabilities[0])


# ---------------------------------------------------------------- rows


NOTHING = Q(pk__in=[])

# What "started, holds or is assigned" means for a model (OWN reach), registered by the app that
# owns the model (cases registers Case in its AppConfig.ready), so that an app lower in the
# dependency order (the registry's household page lists cases) filters the same way.
OWN_RULES: dict[str, Callable[[object], Q]] = {}


def register_own_rule(model_label: str, builder: Callable[[object], Q]) -> None:
    OWN_RULES[model_label.lower()] = builder


def scope_q(
    user,
    capability: Capability,
    *,
    division: str,
    own: Callable[[object], Q] | None = None,
    department: str | Callable[[int], Q] | None = None,
    model=None,
) -> Q:
    """A filter for the rows `capability` reaches: `division` names the row's Division FK
    (e.g. "household__division"), `own` builds the row's "started, holds or assigned" test
    for OWN reach (default: the rule registered for `model`), `department` names the row's
    Department FK for DEPARTMENT reach (or builds the test from the department's id). A reach the caller gave no field for reaches nothing:
    forgetting a field refuses, never leaks."""
    if own is None and model is not None:
        own = OWN_RULES.get(model._meta.label_lower)
    found = reach(user, capability)
    if found == Reach.NONE:
        return NOTHING
    area = Q(**{f"{division}__path__startswith": scope_for(user).division_path})
    if found in (Reach.AREA, Reach.PURPOSE):
        return area
    if found == Reach.OWN:
        return area & own(user) if own is not None else NOTHING
    if found == Reach.DEPARTMENT:
        department_id = scope_for(user).department_id
        if department is None or department_id is None:
            return NOTHING
        if callable(department):
            return area & department(department_id)
        return area & Q(**{f"{department}_id": department_id})
    raise ImproperlyConfigured(f"unknown reach {found!r}")


def scoped(qs: QuerySet, user, capability: Capability, **fields) -> QuerySet:
    return qs.filter(scope_q(user, capability, model=qs.model, **fields))


def get_or_refuse(scoped_qs: QuerySet, *, exists: Callable[[], bool], what: str = _("该对象"), **lookup):
    """The row from an already scoped queryset; 403 if it exists but lies outside the viewer's
    reach, 404 if there is no such row. The refusal names neither the row's place nor owner."""
    row = scoped_qs.filter(**lookup).first()
    if row is not None:
        return row
    if exists():
        raise PermissionDenied(gettext("%(what)s不在您的数据权限范围内。") % {"what": what})
    raise Http404(gettext("没有找到%(what)s。") % {"what": what})


# ---------------------------------------------------------------- stated purpose (auditor)

PURPOSE_SESSION_KEY = "ejia_purposes"
PURPOSE_SECONDS = 30 * 60
PURPOSE_SALT = "ejia.accounts.purpose"


def purpose_key(obj) -> str:
    return f"{obj._meta.label_lower}:{obj.pk}"


def stated_purpose(request, obj) -> str | None:
    """The purpose stated for `obj` in this session in the last 30 minutes, if any."""
    entry = request.session.get(PURPOSE_SESSION_KEY, {}).get(purpose_key(obj))
    if not entry or entry.get("until", 0) < time.time():
        return None
    return entry.get("purpose")


def purpose_token(obj, next_url: str) -> str:
    return signing.dumps({"key": purpose_key(obj), "next": next_url}, salt=PURPOSE_SALT)


class PurposeRequired(PermissionDenied):
    """Raised when a PURPOSE reach reads a file without a stated purpose; the error page shows
    the purpose form instead of a plain refusal."""

    def __init__(self, obj, next_url: str, what: str):
        super().__init__(gettext("查阅%(what)s须先说明查阅目的，该操作将记入审计日志。") % {"what": what})
        self.token = purpose_token(obj, next_url)
        self.what = what


def require_purpose(request, capability: Capability, obj, *, what: str) -> str | None:
    """For a PURPOSE reach: the stated purpose, or PurposeRequired (the page asks for one).
    For any other reach: None (the job itself is the purpose)."""
    if reach(request.user, capability) != Reach.PURPOSE:
        return None
    purpose = stated_purpose(request, obj)
    if purpose is None:
        raise PurposeRequired(obj, request.get_full_path(), what)
    return purpose


# ---------------------------------------------------------------- view declarations

PUBLIC = "public"  # a page for everyone (citizens' pages, the login page)
SIGNED_IN = "signed_in"  # any signed-in staff member (the home page, logout)


def staff_view(capability: Capability | str, *, post: Capability | None = None, cache: bool = True):
    """Declare what a staff view needs: login, then `capability` (and `post` for POSTs).
    `capability` may be SIGNED_IN for pages every staff member has. `cache=False` marks pages
    with personal data that must not be kept by the browser. The view is tagged with what it
    declared, for the URL walker test and the authorisation matrix."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if capability != SIGNED_IN:
                require(request.user, Capability(capability))
            if post is not None and request.method == "POST":
                require(request.user, post)
            return view(request, *args, **kwargs)

        wrapped = wrapped if cache else never_cache(wrapped)
        wrapped = login_required(wrapped)
        wrapped.ejia_capability = capability
        wrapped.ejia_post_capability = post
        return wrapped

    return decorate


def public_view(view):
    """Declare a view open to everyone (it must not show any staff data)."""
    view.ejia_capability = PUBLIC
    return view


# ---------------------------------------------------------------- API clients (ejia.api)


class ApiScope(StrEnum):
    """What a registered API client may call. A scope is granted to a client (ejia.api
    ApiClient.scopes); what it reaches is decided below, by the same capabilities and reaches
    as for staff: a scope names a capability, and a client that acts on cases does so as its
    service account, whose roles (API_SCOPE_ROLES) give that capability its reach."""

    CATALOGUE_READ = "catalogue:read"
    CITIZEN_APP = "app:citizen"
    EXCHANGE_PUSH = "exchange:push"
    DEPARTMENT_REQUESTS = "department:requests"
    DCI_SEARCH = "dci:search"


# Scope -> the capability it needs (None: public information, the scope alone decides).
API_SCOPES: dict[str, Capability | None] = {
    ApiScope.CATALOGUE_READ: None,
    # The citizens' app: no staff capability; a citizen's token reaches only the applications
    # made with the phone it verified by SMS code (ejia.api.app_auth.CitizenAuth).
    ApiScope.CITIZEN_APP: None,
    # A department's system pushes its own data: not the exchange operator's job (a city-centre
    # role that reaches every source) but the scope plus the sources it was registered for
    # (api_source_allowed); the snapshot then goes through the exchange's own validation and guard.
    ApiScope.EXCHANGE_PUSH: None,
    ApiScope.DEPARTMENT_REQUESTS: Capability.PROCEDURE_HANDLE,
    # A partner registry's DCI search: the scope, then its agreement (fields, masking) and its
    # area (the client's unit's division, else the city) decide what it sees (ejia.api.dci).
    ApiScope.DCI_SEARCH: None,
}

# The role a client's service account holds for a scope (at the client's unit), so that the
# service account's reach is the one a person in that job would have.
API_SCOPE_ROLES: dict[str, str] = {
    ApiScope.DEPARTMENT_REQUESTS: Role.DEPT_APPROVER,
}

# Which scopes each kind of client may be given at all (ejia.api ApiClient.Kind values).
API_KIND_SCOPES: dict[str, frozenset[str]] = {
    "department": frozenset({ApiScope.CATALOGUE_READ, ApiScope.EXCHANGE_PUSH, ApiScope.DEPARTMENT_REQUESTS}),
    "citizen_app": frozenset({ApiScope.CATALOGUE_READ, ApiScope.CITIZEN_APP}),
    "partner": frozenset({ApiScope.CATALOGUE_READ, ApiScope.DCI_SEARCH}),
}

API_SCOPE_LABELS = {
    ApiScope.CATALOGUE_READ: _("查询救助项目、标准和自助测算"),
    ApiScope.CITIZEN_APP: _("群众手机App登录、申请、查询和撤回本人申请"),
    ApiScope.EXCHANGE_PUSH: _("推送部门数据"),
    ApiScope.DEPARTMENT_REQUESTS: _("接收转办事项并反馈审批结果"),
    ApiScope.DCI_SEARCH: _("按DCI标准查询社会救助登记信息"),
}


def api_reach(principal, scope: str) -> Reach:
    """The reach an API principal (ejia.api.auth.ApiPrincipal: the client's granted scopes and
    its service account) has for `scope`: none without the scope; for public information the
    scope alone; otherwise the service account's reach for the scope's capability."""
    if scope not in principal.scopes or scope not in API_SCOPES:
        return Reach.NONE
    capability = API_SCOPES[scope]
    if capability is None:
        return Reach.AREA
    return reach(principal.user, capability)


def api_source_allowed(principal, source_code: str) -> bool:
    """Pushing department data reaches only the sources the client was registered for (its own
    department's data), never another department's."""
    return api_reach(principal, ApiScope.EXCHANGE_PUSH) != Reach.NONE and source_code in (
        principal.client.sources or []
    )


def api_require(principal, scope: str) -> Reach:
    """The principal's reach for `scope`, or PermissionDenied with a plain sentence."""
    found = api_reach(principal, scope)
    if found == Reach.NONE:
        label = API_SCOPE_LABELS.get(scope, scope)
        raise PermissionDenied(
            gettext("接入系统“%(client)s”未获授权%(what)s（授权范围 %(scope)s）。")
            % {"client": principal.client_name, "what": label, "scope": scope}
        )
    return found
