from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from ejia.core.models import BaseModel


class Division(models.Model):
    """An administrative division: city → county → township → village (GB/T 2260 and the
    9/12-digit statistical codes). `path` holds the codes from the city down, so a subtree
    is one indexed prefix match."""

    class Level(models.TextChoices):
        CITY = "city", _("市")
        COUNTY = "county", _("县（区、市）")
        TOWNSHIP = "township", _("乡镇（街道）")
        VILLAGE = "village", _("村（社区）")

    class Kind(models.TextChoices):
        PREFECTURE = "prefecture", _("地级市")
        DISTRICT = "district", _("区")
        COUNTY = "county", _("县")
        COUNTY_CITY = "county_city", _("县级市")
        STREET = "street", _("街道")
        TOWN = "town", _("镇")
        TOWNSHIP = "township", _("乡")
        SPECIAL = "special", _("其他乡级单位")
        VILLAGE = "village", _("村")
        COMMUNITY = "community", _("社区")

    code = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=60)
    full_name = models.CharField(max_length=200)
    level = models.CharField(max_length=10, choices=Level.choices, db_index=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    path = models.CharField(max_length=64, unique=True)
    # A household is urban when its village lies under a street (街道), rural otherwise.
    urban = models.BooleanField(default=False)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.full_name

    @property
    def county_code(self) -> str:
        return self.code[:6]

    def is_within(self, other: Division) -> bool:
        return self.path.startswith(other.path)


class Department(models.Model):
    """One of the 17 units that run programmes (民政局, 教育局, 医保局 …)."""

    class Kind(models.TextChoices):
        GOVERNMENT = "government", _("政府部门")
        PARTY = "party", _("党委部门")
        MASS = "mass", _("群团组织")
        SOCIAL = "social", _("社会组织")

    code = models.SlugField(max_length=20, unique=True)
    name = models.CharField(max_length=40)
    short_name = models.CharField(max_length=10)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    sort_order = models.PositiveSmallIntegerField(default=0)
    phone = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name


class OrgUnit(BaseModel):
    """A unit on the division tree: an assistance centre (city/county), a township window,
    a village station, or a department's office at city or county level."""

    class Kind(models.TextChoices):
        CENTRE = "centre", _("社会救助管理服务中心")
        WINDOW = "window", _("社会救助工作平台（窗口）")
        STATION = "station", _("社会救助工作站")
        DEPARTMENT = "department", _("部门（单位）")

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    division = models.ForeignKey(Division, on_delete=models.PROTECT, related_name="units")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="units")
    phone = models.CharField(max_length=40, blank=True)
    address = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["division__code", "kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["division", "kind", "department"], name="orgunit_one_per_division_kind_department"
            ),
            models.UniqueConstraint(
                fields=["division", "kind"],
                condition=models.Q(department__isnull=True),
                name="orgunit_one_per_division_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="department", department__isnull=False)
                | (~models.Q(kind="department") & models.Q(department__isnull=True)),
                name="orgunit_department_iff_department_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    VILLAGE_CLERK = "village_clerk", _("村（社区）工作站协理员")
    GRID_WORKER = "grid_worker", _("网格员")
    WINDOW_CLERK = "window_clerk", _("乡镇（街道）窗口受理员")
    COUNTY_REVIEWER = "county_reviewer", _("县级审核员")
    CENTRE_DIRECTOR = "centre_director", _("救助管理服务中心主任")
    DEPT_APPROVER = "dept_approver", _("部门审批员")
    CATALOGUE_EDITOR = "catalogue_editor", _("部门项目维护员")
    EXCHANGE_OPERATOR = "exchange_operator", _("数据交换操作员")
    AUDITOR = "auditor", _("审计员")
    SYSADMIN = "sysadmin", _("系统管理员")
    # Reads the statistics of the area (大数据看板) and nothing else: no case, no person.
    LEADER = "leader", _("分管领导（查阅统计）")


class User(AbstractUser):
    """A staff member. Belongs to one unit; holds roles there; sees the unit's subtree."""

    display_name = models.CharField(_("姓名"), max_length=40, blank=True)
    unit = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="staff")
    phone = models.CharField(max_length=20, blank=True)
    # Set when an administrator chose the password (a new account, a reset): the person changes
    # it before any other staff page opens, so nobody keeps a password someone else knows.
    must_change_password = models.BooleanField(_("须修改密码"), default=False)

    def get_full_name(self) -> str:
        return self.display_name or super().get_full_name()

    @property
    def role_codes(self) -> frozenset[str]:
        cached = getattr(self, "_role_codes", None)
        if cached is None:
            cached = frozenset(self.roles.values_list("role", flat=True)) if self.pk else frozenset()
            self._role_codes = cached
        return cached

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_codes.intersection(roles))


class StaffRole(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=20, choices=Role.choices)
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="staffrole_unique")]

    def __str__(self) -> str:
        return self.get_role_display()


class LoginFailure(models.Model):
    """One failed login; counted per username and per address to throttle guessing."""

    username = models.CharField(max_length=150, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True, db_index=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
