"""救助对象库: persons, households, memberships, statuses and the benefit history.

ID numbers are sensitive personal information (PIPL Art. 28): the database holds only the
AES-GCM ciphertext (purpose "person.id_number"), a keyed blind index for exact lookup and
uniqueness, and the masked form (first 6 + last 4) for display. Decryption goes through
`services.person_id_number_reveal`, which checks the role and writes an audit event.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ejia.accounts.models import Department, Division
from ejia.core.models import BaseModel

ID_PURPOSE = "person.id_number"
ACCOUNT_PURPOSE = "household.account"


class Sex(models.TextChoices):
    MALE = "M", _("男")
    FEMALE = "F", _("女")


class Relation(models.TextChoices):
    """Relation to the head of household, GB/T 4761-2008 codes (the ones assistance uses)."""

    HEAD = "02", _("户主")
    SPOUSE = "10", _("配偶")
    SON = "20", _("子")
    SON_IN_LAW = "28", _("女婿")
    DAUGHTER = "30", _("女")
    DAUGHTER_IN_LAW = "38", _("儿媳")
    GRANDCHILD = "40", _("孙子女或外孙子女")
    PARENT = "50", _("父母")
    GRANDPARENT = "60", _("祖父母或外祖父母")
    SIBLING = "70", _("兄弟姐妹")
    OTHER_RELATIVE = "80", _("其他亲属")
    NON_RELATIVE = "99", _("非亲属")

    @classmethod
    def normalise(cls, code: str | None) -> str:
        """Map any GB/T 4761 code (e.g. 11 夫, 21 长子, 51 父亲) or label (配偶) onto its group."""
        text = str(code or "").strip()
        if text in RELATION_WORDS:
            return RELATION_WORDS[text]
        text = text.zfill(2)[:2]
        if text in cls.values:
            return text
        if text in ("01", "00"):
            return cls.HEAD
        group = text[0] + "0"
        if group in cls.values and group != "00":
            return group
        return cls.OTHER_RELATIVE if text[0] in "1234567" else cls.NON_RELATIVE


# Chinese words that department files use instead of codes (fixed, not translated).
RELATION_WORDS = {
    "户主": "02",
    "本人": "02",
    "配偶": "10",
    "夫": "10",
    "妻": "10",
    "子": "20",
    "儿子": "20",
    "女婿": "28",
    "女": "30",
    "女儿": "30",
    "儿媳": "38",
    "孙子女": "40",
    "孙子": "40",
    "孙女": "40",
    "父母": "50",
    "父亲": "50",
    "母亲": "50",
    "祖父母": "60",
    "兄弟姐妹": "70",
    "其他亲属": "80",
    "非亲属": "99",
}


class StatusKind(models.TextChoices):
    """Assistance statuses in the tier order of 梯度救助 (highest first)."""

    TEKUN = "tekun", _("特困人员")
    DIBAO = "dibao", _("低保")
    DIBAO_EDGE = "dibao_edge", _("低保边缘")
    EXPENSE_HARDSHIP = "expense_hardship", _("支出型困难")
    LIFTED_FROM_POVERTY = "lifted_from_poverty", _("脱贫户")
    RELAPSE_MONITORING = "relapse_monitoring", _("防止返贫监测对象")
    ORPHAN = "orphan", _("孤儿或事实无人抚养儿童")
    SEVERE_DISABILITY = "severe_disability", _("重度残疾人")
    OTHER = "other", _("其他")


# The statuses a decision on a programme confers (and a means test stands behind): an approved
# 低保 makes the household a 低保 household until its entitlement ends. 特困 is a person's status
# (MemberStatus) and marks the household too.
STATUS_BY_PROGRAMME: dict[str, str] = {
    "tekun": StatusKind.TEKUN,
    "dibao": StatusKind.DIBAO,
    "dibao_edge": StatusKind.DIBAO_EDGE,
    "expense_hardship": StatusKind.EXPENSE_HARDSHIP,
}
# A household enters one tier of 梯度救助 at a time: an approved 低保 ends these.
TIER_REPLACES: dict[str, tuple[str, ...]] = {
    StatusKind.DIBAO: (StatusKind.DIBAO_EDGE, StatusKind.EXPENSE_HARDSHIP),
}


class Person(BaseModel):
    id_number_ciphertext = models.TextField(editable=False)
    id_number_index = models.CharField(max_length=64, unique=True, editable=False)
    id_number_masked = models.CharField(_("身份证号码"), max_length=18, editable=False)
    name = models.CharField(_("姓名"), max_length=40)
    sex = models.CharField(_("性别"), max_length=1, choices=Sex.choices)
    birth_date = models.DateField(_("出生日期"))
    phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    ethnicity = models.CharField(_("民族"), max_length=20, blank=True)
    deceased_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name}（{self.id_number_masked}）"

    @property
    def masked_id(self) -> str:
        return self.id_number_masked

    def age_on(self, day: dt.date) -> int:
        from ejia.core.idnumber import age_on

        return age_on(self.birth_date, day)

    def is_adult_on(self, day: dt.date) -> bool:
        return self.age_on(day) >= 18


class Household(BaseModel):
    """共同生活家庭: the unit a means test and 一卡发放 are about."""

    division = models.ForeignKey(
        Division, on_delete=models.PROTECT, related_name="households", verbose_name=_("村（社区）")
    )
    address = models.CharField(_("住址"), max_length=200, blank=True)
    # Copied from the village at creation (a village under a street is urban); kept on the row
    # because standards differ for urban and rural households and SQL bulk runs read it.
    urban = models.BooleanField(_("城市家庭"), default=False)
    hukou_number = models.CharField(_("户号"), max_length=20, blank=True, db_index=True)
    bank_name = models.CharField(_("开户银行"), max_length=60, blank=True)
    account_ciphertext = models.TextField(blank=True, editable=False)
    account_masked = models.CharField(_("账号"), max_length=40, blank=True, editable=False)
    account_holder = models.ForeignKey(
        "Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("账户户名")
    )
    # Household facts known to the registry (rule fact names → values), e.g. housing_units.
    facts = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["division__code", "pk"]

    def __str__(self) -> str:
        return f"{self.division.name} {self.address}"

    @property
    def region_code(self) -> str:
        return self.division.code[:6]

    def current_memberships(self):
        return self.memberships.filter(date_out__isnull=True).select_related("person")

    def head(self) -> Person | None:
        membership = self.current_memberships().filter(relation=Relation.HEAD).first()
        return membership.person if membership else None


class Membership(BaseModel):
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="memberships")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="memberships")
    relation = models.CharField(_("与户主关系"), max_length=2, choices=Relation.choices)
    date_in = models.DateField(_("迁入日期"))
    date_out = models.DateField(_("迁出日期"), null=True, blank=True)
    # Member facts known to the registry (disability grade, school stage …).
    facts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["household", "relation", "pk"]
        constraints = [
            # A person lives in at most one household at a time (the means test counts each
            # person once); the partial unique index holds it under concurrent intakes too.
            models.UniqueConstraint(
                fields=["person"], condition=Q(date_out__isnull=True), name="membership_one_open_per_person"
            ),
            models.CheckConstraint(
                condition=Q(date_out__isnull=True) | Q(date_out__gte=models.F("date_in")),
                name="membership_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} in {self.household_id} ({self.get_relation_display()})"

    @property
    def is_open(self) -> bool:
        return self.date_out is None


class _StatusBase(BaseModel):
    kind = models.CharField(_("类别"), max_length=24, choices=StatusKind.choices)
    start = models.DateField(_("起始日期"))
    end = models.DateField(_("终止日期"), null=True, blank=True)
    note = models.CharField(_("备注"), max_length=200, blank=True)

    class Meta:
        abstract = True

    def active_on(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


class HouseholdStatus(_StatusBase):
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="statuses")

    class Meta:
        ordering = ["household", "-start"]
        verbose_name = _("家庭救助身份")


class MemberStatus(_StatusBase):
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="statuses")
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="member_statuses")

    class Meta:
        ordering = ["person", "-start"]
        verbose_name = _("成员救助身份")


class BenefitRecord(BaseModel):
    """One benefit received from any department: the 360° history of a household."""

    class Form(models.TextChoices):
        CASH = "cash", _("现金")
        IN_KIND = "in_kind", _("实物")
        SERVICE = "service", _("服务")
        SUBSIDY = "subsidy", _("资助或减免")

    class Source(models.TextChoices):
        CASE = "case", _("本平台审批")
        PAYMENT = "payment", _("本平台发放")
        IMPORT = "import", _("部门数据导入")

    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="benefits")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="benefits")
    programme = models.ForeignKey(
        "catalogue.Programme", null=True, blank=True, on_delete=models.PROTECT, related_name="benefit_records"
    )
    programme_name = models.CharField(_("项目"), max_length=80, blank=True)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="benefit_records")
    form = models.CharField(_("形式"), max_length=10, choices=Form.choices, default=Form.CASH)
    amount_fen = models.BigIntegerField(_("金额（分）"), default=0)
    period_start = models.DateField(_("期间起"))
    period_end = models.DateField(_("期间止"), null=True, blank=True)
    source = models.CharField(_("来源"), max_length=10, choices=Source.choices)
    source_ref = models.CharField(max_length=64, blank=True)
    note = models.CharField(_("备注"), max_length=200, blank=True)

    class Meta:
        ordering = ["household", "-period_start", "pk"]
        indexes = [models.Index(fields=["household", "period_start"])]

    def __str__(self) -> str:
        return f"{self.label} {self.amount_fen}"

    @property
    def label(self) -> str:
        return self.programme.name if self.programme_id else self.programme_name


class PopulationRecord(models.Model):
    """One row of the 公安人口库 snapshot: a lookup table for pre-filling intake.

    Never shown as such; only read by exact ID number (blind index) or by 户号 for the
    co-registered members. The ID number is kept as ciphertext so the form can pre-fill
    members' numbers; nothing is stored in plaintext.
    """

    id_number_index = models.CharField(max_length=64, unique=True)
    id_number_ciphertext = models.TextField()
    name = models.CharField(max_length=40)
    sex = models.CharField(max_length=1, choices=Sex.choices)
    birth_date = models.DateField()
    address = models.CharField(max_length=200, blank=True)
    hukou_number = models.CharField(max_length=20, blank=True, db_index=True)
    relation = models.CharField(max_length=2, blank=True)
    division_code = models.CharField(max_length=12, blank=True)
    imported_at = models.DateTimeField()

    class Meta:
        ordering = ["hukou_number", "relation", "pk"]

    def __str__(self) -> str:
        return f"{self.name} 户号{self.hukou_number}"
