"""Writes to the registry: keyword-only, one transaction, locks, an audit event per change."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from ejia.accounts.models import Division, Role
from ejia.accounts.policies import Capability, require
from ejia.accounts.scope import require_division
from ejia.core import crypto, idnumber
from ejia.core.audit import audit_record
from ejia.registry.models import (
    ACCOUNT_PURPOSE,
    ID_PURPOSE,
    TIER_REPLACES,
    Household,
    HouseholdStatus,
    Membership,
    MemberStatus,
    Person,
    Relation,
    StatusKind,
)

# Roles that may see a full ID number (e.g. to fill a bank or hospital form); each reveal is logged.


class RegistryError(Exception):
    """A rule of the registry was broken; `message` is Chinese and shown to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PersonInOtherHousehold(RegistryError):
    def __init__(self, person: Person, household: Household) -> None:
        super().__init__(
            f"{person.name}（{person.masked_id}）已是{household.division.full_name}另一户家庭的成员，"
            "一人同一时间只能属于一个家庭。请先在原家庭办理迁出，或核实身份证号码。"
        )
        self.person = person
        self.household = household


def id_index(number: str) -> str:
    """Blind index of a normalised ID number (the only form used for lookup and uniqueness)."""
    return crypto.blind_index(number, purpose=ID_PURPOSE)


def encrypt_id(number: str) -> str:
    return crypto.encrypt(number, purpose=ID_PURPOSE)


def mask_account(number: str) -> str:
    digits = "".join(number.split())
    if len(digits) <= 8:
        return "*" * len(digits)
    return digits[:4] + "*" * (len(digits) - 8) + digits[-4:]


def _households_changed(*household_ids: int) -> None:
    """What a partner registry can see of these households changed: once the change commits,
    the DCI subscriptions that match them are notified (ejia.api.dci.subscriptions; a plain
    call from each write service below, not a signal, so every path that notifies is here)."""
    ids = sorted({pk for pk in household_ids if pk})
    if ids:
        transaction.on_commit(lambda: _notify_subscribers(ids))


def _notify_subscribers(ids: list[int]) -> None:
    from ejia.api.dci.subscriptions import households_changed

    households_changed(ids)


def _person_changed(person: Person) -> None:
    _households_changed(
        *Membership.objects.filter(person=person, date_out__isnull=True).values_list("household_id", flat=True)
    )


def person_ensure(
    *, actor, id_number: str, name: str, phone: str = "", ethnicity: str = "", reason: str = ""
) -> Person:
    """Find the person by ID number (blind index) or create them; update name/phone if given.

    Raises idnumber.InvalidIdNumber (Chinese message) for a bad number.
    """
    parsed = idnumber.parse(id_number)
    index = id_index(parsed.number)
    name = name.strip()
    with transaction.atomic():
        person = Person.objects.select_for_update().filter(id_number_index=index).first()
        if person is None:
            try:
                with transaction.atomic():
                    person = Person.objects.create(
                        id_number_ciphertext=encrypt_id(parsed.number),
                        id_number_index=index,
                        id_number_masked=parsed.masked,
                        name=name,
                        sex=parsed.sex,
                        birth_date=parsed.birth_date,
                        phone=phone.strip(),
                        ethnicity=ethnicity.strip(),
                    )
            except IntegrityError:
                # Another intake created the same person a moment ago.
                person = Person.objects.select_for_update().get(id_number_index=index)
            else:
                audit_record(actor=actor, action="registry.person_create", obj=person, reason=reason)
                return person
        changed = []
        if name and name != person.name:
            person.name = name
            changed.append("name")
        if phone.strip() and phone.strip() != person.phone:
            person.phone = phone.strip()
            changed.append("phone")
        if ethnicity.strip() and ethnicity.strip() != person.ethnicity:
            person.ethnicity = ethnicity.strip()
            changed.append("ethnicity")
        if changed:
            person.save(update_fields=[*changed, "updated_at"])
            audit_record(
                actor=actor, action="registry.person_update", obj=person, reason=reason, data={"fields": changed}
            )
            _person_changed(person)
    return person


def person_phone_update(*, actor, person: Person, phone: str, reason: str) -> None:
    """Replace the person's contact phone (with their consent, said in `reason`); audited."""
    with transaction.atomic():
        locked = Person.objects.select_for_update().get(pk=person.pk)
        old = locked.phone
        if phone == old:
            return
        locked.phone = phone
        locked.save(update_fields=["phone", "updated_at"])
        person.phone = phone
        audit_record(
            actor=actor,
            action="registry.person_phone_update",
            obj=locked,
            reason=reason,
            data={"had_phone": bool(old)},
        )
        _person_changed(locked)


def person_id_number_reveal(*, actor, person: Person, reason: str) -> str:
    """Decrypt a person's ID number for a permitted role, inside the person's scope, with a reason."""
    require(actor, Capability.ID_REVEAL)
    if not reason.strip():
        raise RegistryError("查看完整身份证号码须填写用途。")
    membership = person.memberships.filter(date_out__isnull=True).select_related("household__division").first()
    if membership is not None:
        require_division(actor, membership.household.division)
    elif not actor.is_superuser and not actor.has_role(Role.COUNTY_REVIEWER, Role.CENTRE_DIRECTOR):
        # A person outside every household belongs to nobody's area but the county centre's.
        raise PermissionDenied("该人员不在您的数据权限范围内。")
    audit_record(actor=actor, action="registry.id_number_reveal", obj=person, reason=reason.strip())
    return crypto.decrypt(person.id_number_ciphertext, purpose=ID_PURPOSE)


def household_create(
    *, actor, division: Division, address: str = "", hukou_number: str = "", facts: dict | None = None, source: str = ""
) -> Household:
    if division.level != Division.Level.VILLAGE:
        raise RegistryError("家庭须登记在村（社区）一级。")
    with transaction.atomic():
        household = Household.objects.create(
            division=division,
            address=address.strip(),
            urban=division.urban,
            hukou_number=hukou_number.strip(),
            facts=facts or {},
            source=source,
        )
        audit_record(actor=actor, action="registry.household_create", obj=household, data={"division": division.code})
        _households_changed(household.pk)
    return household


def household_update(*, actor, household: Household, address: str | None = None, facts: dict | None = None) -> None:
    with transaction.atomic():
        household = Household.objects.select_for_update().get(pk=household.pk)
        fields = []
        if address is not None and address.strip() != household.address:
            household.address = address.strip()
            fields.append("address")
        if facts is not None and facts != household.facts:
            household.facts = facts
            fields.append("facts")
        if fields:
            household.save(update_fields=[*fields, "updated_at"])
            audit_record(actor=actor, action="registry.household_update", obj=household, data={"fields": fields})
            _households_changed(household.pk)


def household_account_set(
    *, actor, household: Household, bank_name: str, account_number: str, holder: Person | None = None
) -> None:
    """Register the household's one account for 一卡发放 (encrypted, masked for display)."""
    digits = "".join(account_number.split())
    if digits and (not digits.isdigit() or not 12 <= len(digits) <= 30):
        raise RegistryError("银行账号应为12至30位数字。")
    with transaction.atomic():
        household = Household.objects.select_for_update().get(pk=household.pk)
        household.bank_name = bank_name.strip()
        household.account_ciphertext = crypto.encrypt(digits, purpose=ACCOUNT_PURPOSE) if digits else ""
        household.account_masked = mask_account(digits) if digits else ""
        household.account_holder = holder
        household.save(
            update_fields=["bank_name", "account_ciphertext", "account_masked", "account_holder", "updated_at"]
        )
        audit_record(
            actor=actor,
            action="registry.household_account_set",
            obj=household,
            data={"bank": household.bank_name, "account": household.account_masked},
        )


def membership_add(
    *, actor, household: Household, person: Person, relation: str, date_in: dt.date | None = None, facts=None
) -> Membership:
    """Add a person to a household; a person in another household is refused with a clear message."""
    relation = Relation.normalise(relation)
    with transaction.atomic():
        # Lock the person first, then the household: the fixed order of every registry writer.
        person = Person.objects.select_for_update().get(pk=person.pk)
        current = (
            Membership.objects.select_for_update()
            .filter(person=person, date_out__isnull=True)
            .select_related("household__division")
            .first()
        )
        if current is not None:
            if current.household_id != household.pk:
                raise PersonInOtherHousehold(person, current.household)
            fields = []
            if current.relation != relation:
                current.relation = relation
                fields.append("relation")
            if facts is not None and facts != current.facts:
                current.facts = facts
                fields.append("facts")
            if fields:
                current.save(update_fields=[*fields, "updated_at"])
                _households_changed(current.household_id)
            return current
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    household=household,
                    person=person,
                    relation=relation,
                    date_in=date_in or timezone.localdate(),
                    facts=facts or {},
                )
        except IntegrityError:
            other = Membership.objects.filter(person=person, date_out__isnull=True).select_related("household").first()
            raise PersonInOtherHousehold(person, other.household if other else household) from None
        audit_record(
            actor=actor,
            action="registry.membership_add",
            obj=membership,
            data={"household": str(household.public_id), "person": str(person.public_id), "relation": relation},
        )
        _households_changed(household.pk)
    return membership


def membership_end(*, actor, membership: Membership, date_out: dt.date | None = None, reason: str = "") -> None:
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.date_out is not None:
            return
        membership.date_out = max(date_out or timezone.localdate(), membership.date_in)
        membership.save(update_fields=["date_out", "updated_at"])
        audit_record(actor=actor, action="registry.membership_end", obj=membership, reason=reason)
        _households_changed(membership.household_id)


# ---------------------------------------------------------------- statuses (救助身份)


def _open_on(qs, day: dt.date):
    """Statuses of `qs` still running on `day` (no end, or an end not before it)."""
    return qs.filter(start__lte=day).filter(end__isnull=True) | qs.filter(start__lte=day, end__gte=day)


def status_begin(
    *,
    actor,
    household: Household,
    kind: str,
    start: dt.date,
    persons: list[Person] | tuple[Person, ...] = (),
    note: str = "",
) -> HouseholdStatus:
    """The household (and, for a person's status, each of `persons`) holds `kind` from `start`
    with no end: an approved decision. A status already running is kept and any end it had in
    view (a gradual exit) is lifted; a lower tier it replaces ends the day before."""
    kind = StatusKind(kind)
    with transaction.atomic():
        household = Household.objects.select_for_update().get(pk=household.pk)
        replaced = []
        for lower in TIER_REPLACES.get(kind, ()):
            for status in _open_on(HouseholdStatus.objects.filter(household=household, kind=lower), start):
                status.end = max(status.start, start - dt.timedelta(days=1))
                status.note = (status.note + f"；{start:%Y-%m-%d}转入{kind.label}")[-200:]
                status.save(update_fields=["end", "note", "updated_at"])
                replaced.append(lower)
        status = _status_running(HouseholdStatus.objects.filter(household=household, kind=kind), start)
        if status is None:
            status = HouseholdStatus.objects.create(household=household, kind=kind, start=start, note=note[:200])
        for person in persons:
            mine = _status_running(MemberStatus.objects.filter(person=person, kind=kind), start)
            if mine is None:
                MemberStatus.objects.create(person=person, household=household, kind=kind, start=start, note=note[:200])
        audit_record(
            actor=actor,
            action="registry.status_begin",
            obj=household,
            reason=note,
            data={
                "kind": kind.value,
                "start": start.isoformat(),
                "persons": [str(p.public_id) for p in persons],
                "replaced": replaced,
            },
        )
        _households_changed(household.pk)
    return status


def _status_running(qs, start: dt.date):
    """The status of `qs` running on `start` (its planned end lifted), else None."""
    status = _open_on(qs, start).order_by("-start", "-pk").first()
    if status is not None and status.end is not None:
        status.end = None
        status.save(update_fields=["end", "updated_at"])
    return status


def status_end(
    *, actor, household: Household, kind: str, end: dt.date, person: Person | None = None, reason: str
) -> int:
    """The household's (or, with `person`, that person's) `kind` ends on `end`, the last day it
    holds (may lie ahead: a gradual exit). A status that began later ends on its first day."""
    kind = StatusKind(kind)
    with transaction.atomic():
        household = Household.objects.select_for_update().get(pk=household.pk)
        if person is not None:
            qs = MemberStatus.objects.filter(person=person, household=household, kind=kind)
        else:
            qs = HouseholdStatus.objects.filter(household=household, kind=kind)
        qs = qs.filter(end__isnull=True) | qs.filter(end__gt=end)
        ended = 0
        for status in qs.select_for_update().order_by("pk"):
            status.end = max(status.start, end)
            status.save(update_fields=["end", "updated_at"])
            ended += 1
        if ended:
            audit_record(
                actor=actor,
                action="registry.status_end",
                obj=household,
                reason=reason,
                data={"kind": kind.value, "end": end.isoformat(), "person": str(person.public_id) if person else None},
            )
            _households_changed(household.pk)
    return ended


def person_death_register(*, actor, person: Person, died_on: dt.date, source: str) -> bool:
    """A death (from a report or a 民政 death registration): the person is recorded as deceased and
    leaves their household from that day, so no means test counts them again. Safe to run twice;
    returns whether anything changed."""
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        changed = person.deceased_on != died_on
        if changed:
            person.deceased_on = died_on
            person.save(update_fields=["deceased_on", "updated_at"])
        left = []
        for membership in Membership.objects.select_for_update().filter(person=person, date_out__isnull=True):
            membership.date_out = max(died_on, membership.date_in)
            membership.save(update_fields=["date_out", "updated_at"])
            left.append(membership.household_id)
            changed = True
        if changed:
            audit_record(
                actor=actor,
                action="registry.person_death",
                obj=person,
                reason=source,
                data={"died_on": died_on.isoformat()},
            )
            _households_changed(*left)
    return changed
