from __future__ import annotations

import csv
import datetime as dt
import io
import itertools

import pytest

from conftest import _unit, make_staff
from ejia.accounts.models import Department, Division, Role
from ejia.catalogue.models import Programme
from ejia.core import crypto, idnumber
from ejia.registry.models import ACCOUNT_PURPOSE, Household, Membership, Person

MAY = dt.date(2026, 5, 1)
_seq = itertools.count(101)


@pytest.fixture
def grace(org):
    """A second county reviewer at 滨城区's centre: the releaser next to dave the preparer."""
    return make_staff("grace", _unit("371602", "centre"), Role.COUNTY_REVIEWER, display_name="孙悦")


@pytest.fixture
def programmes(org):
    mz = Department.objects.get(code="mz")

    def make(code, name, target="household", form="monthly_cash", period="month"):
        return Programme.objects.get_or_create(
            code=code,
            defaults=dict(
                name=name,
                department=mz,
                category="basic_living",
                target=target,
                benefit_form=form,
                amount_period=period,
                summary=name,
            ),
        )[0]

    return {
        "dibao": make("dibao", "最低生活保障（低保）"),
        "tekun": make("tekun", "特困人员救助供养", target="member"),
        "linshi": make("linshi", "临时救助", form="one_off_cash", period="once"),
        "disability_living_subsidy": make("disability_living_subsidy", "困难残疾人生活补贴", target="member"),
        "dibao_edge": make("dibao_edge", "低保边缘家庭认定", form="service", period=""),
        "medical_aid": make("medical_aid", "医疗救助", form="fee_waiver", period="year"),
    }


def person(name: str = "李四", birth: dt.date = dt.date(1950, 3, 4)) -> Person:
    n = next(_seq)
    birth = birth + dt.timedelta(days=n // 900)
    number = idnumber.make("371602", birth, n % 900 + 1)
    parsed = idnumber.parse(number)
    return Person.objects.create(
        id_number_ciphertext=crypto.encrypt(number, purpose="person.id_number"),
        id_number_index=crypto.blind_index(number, purpose="person.id_number"),
        id_number_masked=parsed.masked,
        name=name,
        sex=parsed.sex,
        birth_date=birth,
    )


def household(*, account: str | None = "6228480000000000123", township: str = "371602001", head=None) -> Household:
    village = Division.objects.filter(parent__code=township, level="village").order_by("code").first()
    hh = Household.objects.create(division=village, urban=village.urban, address="幸福路1号")
    head = head or person()
    Membership.objects.create(household=hh, person=head, relation="02", date_in=dt.date(2020, 1, 1))
    if account:
        hh.bank_name = "滨州农商银行"
        hh.account_ciphertext = crypto.encrypt(account, purpose=ACCOUNT_PURPOSE)
        hh.account_masked = account[:4] + "****" + account[-4:]
        hh.account_holder = head
        hh.save()
    return hh


def bank_answer(*rows) -> bytes:
    """The bank's return file (回盘文件) as the bank sends it: one row per line answered."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["交易流水号", "金额（元）", "结果", "银行流水号", "说明"])
    w.writerows(rows)
    return out.getvalue().encode("utf-8")
