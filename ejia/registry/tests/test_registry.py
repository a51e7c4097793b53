import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from ejia.core import crypto, idnumber
from ejia.core.models import AuditEvent
from ejia.registry.models import ID_PURPOSE, Membership, Person, PopulationRecord, Relation
from ejia.registry.population import population_import, population_lookup
from ejia.registry.selectors import household_search, person_by_id_number
from ejia.registry.services import (
    PersonInOtherHousehold,
    RegistryError,
    household_account_set,
    household_create,
    membership_add,
    membership_end,
    person_ensure,
    person_id_number_reveal,
)
from ejia.registry.tests.factories import new_id, village

pytestmark = pytest.mark.django_db


def a_household(actor, township="371602001", members=1):
    household = household_create(actor=actor, division=village(township), address="幸福路1号")
    people = []
    for i in range(members):
        person = person_ensure(actor=actor, id_number=new_id(), name=f"成员{i}")
        membership_add(actor=actor, household=household, person=person, relation=Relation.HEAD if i == 0 else "20")
        people.append(person)
    return household, people


def test_a_person_is_stored_encrypted_with_a_blind_index_and_a_masked_number(bob):
    number = new_id()
    person = person_ensure(actor=bob, id_number=number, name="张三")
    stored = Person.objects.values().get(pk=person.pk)
    assert number not in str(stored)
    assert stored["id_number_masked"] == idnumber.mask(number)
    assert crypto.decrypt(stored["id_number_ciphertext"], purpose=ID_PURPOSE) == number
    assert person.sex == "M" and person.birth_date == dt.date(1980, 5, 17)
    assert person_by_id_number(number.lower()) == person


def test_the_same_number_finds_the_same_person_and_the_blind_index_is_unique(bob):
    number = new_id()
    first = person_ensure(actor=bob, id_number=number, name="张三")
    again = person_ensure(actor=bob, id_number=number, name="张叁", phone="13800000000")
    assert first.pk == again.pk and again.name == "张叁"
    with pytest.raises(IntegrityError), transaction.atomic():
        Person.objects.create(
            id_number_ciphertext="x",
            id_number_index=first.id_number_index,
            name="x",
            sex="M",
            birth_date=dt.date.today(),
        )


def test_an_invalid_number_is_refused_with_a_chinese_message(bob):
    good = new_id()
    # Any check character but the right one (the old version sometimes built a valid number).
    bad = good[:17] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(idnumber.InvalidIdNumber) as exc:
        person_ensure(actor=bob, id_number=bad, name="张三")
    assert "校验位" in exc.value.message or "身份证" in exc.value.message


def test_a_person_belongs_to_one_household_at_a_time(bob):
    _household, (person,) = a_household(bob)
    other = household_create(actor=bob, division=village(), address="和平路2号")
    with pytest.raises(PersonInOtherHousehold) as exc:
        membership_add(actor=bob, household=other, person=person, relation="02")
    assert "另一户家庭的成员" in exc.value.message and person.masked_id in exc.value.message
    membership_end(actor=bob, membership=person.memberships.get(), reason="迁出")
    membership_add(actor=bob, household=other, person=person, relation="02")
    assert Membership.objects.filter(person=person, date_out__isnull=True).get().household == other


def test_the_database_refuses_a_second_open_membership(bob):
    _household, (person,) = a_household(bob)
    other = household_create(actor=bob, division=village(), address="和平路2号")
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(household=other, person=person, relation="02", date_in=dt.date.today())


def test_revealing_an_id_number_needs_a_permitted_role_and_a_reason_and_is_audited(bob, alice, carol):
    number = new_id()
    household, _ = a_household(bob)
    person = person_ensure(actor=bob, id_number=number, name="李四")
    membership_add(actor=bob, household=household, person=person, relation="10")
    with pytest.raises(PermissionDenied):
        person_id_number_reveal(actor=alice, person=person, reason="核实")  # village clerk: not permitted
    with pytest.raises(PermissionDenied):
        person_id_number_reveal(actor=carol, person=person, reason="核实")  # another township
    with pytest.raises(RegistryError):
        person_id_number_reveal(actor=bob, person=person, reason=" ")
    assert person_id_number_reveal(actor=bob, person=person, reason="填写银行代发表") == number
    event = AuditEvent.objects.filter(action="registry.id_number_reveal").get()
    assert event.actor == bob and event.reason == "填写银行代发表" and number not in str(event.data)


def test_the_account_number_is_encrypted_and_masked(bob):
    household, (person,) = a_household(bob)
    household_account_set(
        actor=bob,
        household=household,
        bank_name="滨州农商银行",
        account_number="6230 9100 1234 5678 901",
        holder=person,
    )
    household.refresh_from_db()
    assert household.account_masked == "6230***********8901"
    assert "62309100" not in household.account_ciphertext
    assert crypto.decrypt(household.account_ciphertext, purpose="household.account") == "62309100123456789 01".replace(
        " ", ""
    )
    with pytest.raises(RegistryError):
        household_account_set(actor=bob, household=household, bank_name="x", account_number="12ab")


def test_search_finds_a_household_by_any_members_number_within_scope_only(bob, carol):
    household, (_, child) = a_household(bob, members=2)
    # child's number: decrypt to search as a clerk would type it
    number = crypto.decrypt(child.id_number_ciphertext, purpose=ID_PURPOSE)
    assert household_search(user=bob, query=number).households == [household]
    refused = household_search(user=carol, query=number)
    assert refused.households == [] and refused.out_of_scope
    assert (
        "校验位" in household_search(user=bob, query=number[:-1] + "Y").error
        or household_search(user=bob, query=number[:-1] + "Y").error
    )


def test_population_import_reads_gbk_and_stores_no_plaintext(tmp_path, org):
    head, wife, bad = new_id(), new_id(female=True), "371602198001010000"
    path = tmp_path / "pop.csv"
    path.write_text(
        "公民身份号码,姓名,性别,出生日期,住址,户号,与户主关系\n"
        f"{head},王大山,男,1980-05-17,滨城区市中街道幸福路1号,H0001,02\n"
        f"{wife},刘小花,女,1980-05-17,滨城区市中街道幸福路1号,H0001,12\n"
        f"{bad},无效,男,1980-01-01,,H0002,02\n",
        encoding="gbk",
    )
    result = population_import(path=path)
    assert (result.read, result.written, result.rejected) == (3, 2, 1)
    rows = list(PopulationRecord.objects.values())
    assert head not in str(rows) and wife not in str(rows)
    found, others = population_lookup(head)
    assert found.name == "王大山" and [o.name for o in others] == ["刘小花"]
    assert others[0].id_number == wife and others[0].relation == "10"
    # A second import of the same file updates instead of duplicating.
    population_import(path=path)
    assert PopulationRecord.objects.count() == 2


def test_population_import_detects_the_encoding_when_the_sample_ends_inside_a_character(tmp_path):
    from ejia.registry.population import _open_text

    path = tmp_path / "big.csv"
    for encoding, name in (("utf-8", "utf-8-sig"), ("gbk", "gb18030")):
        # The 64 KB sample ends one byte into a multi-byte character.
        path.write_bytes("名称\n".encode(encoding) + b"a" * (65535 - 5) + "王家庄".encode(encoding))
        with _open_text(path) as handle:
            assert handle.encoding == name and handle.read().endswith("王家庄")
