import pytest
from django.core.exceptions import PermissionDenied

from conftest import first_village
from ejia.accounts.models import Division, OrgUnit
from ejia.accounts.scope import (
    can_see_division,
    divisions_in_scope,
    filter_by_department,
    filter_by_division,
    require_division,
    scope_for,
)


def test_a_township_clerk_sees_only_the_own_township(bob):
    mine = first_village("371602001")
    other = first_village("371602105")
    assert can_see_division(bob, mine)
    assert not can_see_division(bob, other)
    with pytest.raises(PermissionDenied):
        require_division(bob, other)
    visible = set(
        filter_by_division(Division.objects.filter(level="village"), bob, field="parent__parent").values_list(
            "code", flat=True
        )
    ) | set(divisions_in_scope(bob).filter(level="village").values_list("code", flat=True))
    assert mine.code in visible
    assert all(code.startswith("371602001") for code in visible)


def test_a_village_clerk_sees_one_village_and_a_county_reviewer_the_county(alice, dave):
    assert list(divisions_in_scope(alice).values_list("level", flat=True)) == ["village"]
    county_codes = set(divisions_in_scope(dave).values_list("code", flat=True))
    assert "371602001" in county_codes and "371602105" in county_codes
    assert "371621101" not in county_codes


def test_department_staff_see_their_department_within_their_county(erin, frank):
    units = OrgUnit.objects.filter(kind="department")
    erin_sees = filter_by_department(units, erin)
    assert set(erin_sees.values_list("department__code", flat=True)) == {"yb"}
    assert set(erin_sees.values_list("division__code", flat=True)) == {"371602"}
    assert scope_for(frank).department_name == "医疗保障局"
    assert not filter_by_department(units, frank).filter(division__code="371602").exists()


def test_an_inactive_or_unitless_account_has_no_scope(bob):
    bob.is_active = False
    assert scope_for(bob).empty
