"""The set-based export (`bulk_export.export_area_sql`) against the per-household one
(`export.export_area`): the same rows, the same skipped households, and fingerprints with the
property the scan relies on."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ejia.accounts.models import Division
from ejia.discovery.bulk_export import export_area_sql
from ejia.discovery.export import Reader, export_area, sources_committed

pytestmark = pytest.mark.django_db


def _both(area, tmp_path, name="a"):
    reader = Reader.for_area(area, timezone.localdate(), sources_committed())
    python = export_area(reader, area, tmp_path / f"{name}-python", fingerprints=True)
    reader = Reader.for_area(area, timezone.localdate(), sources_committed())
    sql = export_area_sql(reader, area, tmp_path / f"{name}-sql", fingerprints=True)
    return python, sql


def _rows(path, keys):
    return sorted(pq.read_table(path).to_pylist(), key=lambda r: tuple(r[k] for k in keys))


def assert_same(python, sql):
    assert (sql.households, sql.members, sql.skipped) == (python.households, python.members, python.skipped)
    for path, keys in (("households_path", ["household_id"]), ("members_path", ["household_id", "member_index"])):
        a, b = getattr(python, path), getattr(sql, path)
        assert pq.read_schema(a) == pq.read_schema(b)
        left, right = _rows(a, keys), _rows(b, keys)
        assert len(left) == len(right)
        for x, y in zip(left, right, strict=True):
            assert x == y, {k: (x[k], y[k]) for k in x if x[k] != y[k]}
    assert pq.read_table(python.standards_path) == pq.read_table(sql.standards_path)
    assert sql.fingerprints.keys() == python.fingerprints.keys()
    assert all(len(v) == 16 for v in sql.fingerprints.values())


def test_the_sql_export_writes_the_rows_of_the_python_export(demo_city, tmp_path):
    county = Division.objects.get(code="371602")
    python, sql = _both(county, tmp_path)
    assert python.households > 50
    assert_same(python, sql)
    assert len(set(sql.fingerprints.values())) == len(sql.fingerprints)


def test_an_area_without_households_exports_no_rows(demo_city, tmp_path):
    """Every pull of an empty area is empty (an empty CSV on PostgreSQL): the files are written
    with their columns and no rows, as the per-household path writes them."""
    empty = Division.objects.filter(level=Division.Level.VILLAGE, households__isnull=True).first()
    assert empty is not None
    python, sql = _both(empty, tmp_path)
    assert (sql.households, sql.members, sql.fingerprints) == (0, 0, {})
    assert_same(python, sql)


def test_members_are_numbered_head_first_then_by_relation(demo_city, tmp_path):
    """`member_index` numbers a household's members by relation code (the head, 02, first) and
    then by membership, in both paths: the set-based one numbers them in DuckDB."""
    from django.db.models import Q

    from ejia.registry.models import Membership

    county = Division.objects.get(code="371602")
    python, sql = _both(county, tmp_path)
    assert_same(python, sql)
    rows = _rows(sql.members_path, ["household_id", "member_index"])
    by_household: dict[int, list[dict]] = {}
    for row in rows:
        by_household.setdefault(row["household_id"], []).append(row)
    several = [h for h, members in by_household.items() if len(members) > 1]
    assert len(several) > 20
    for household_id in several:
        members = by_household[household_id]
        assert [m["member_index"] for m in members] == list(range(len(members)))
        living = Q(person__deceased_on__isnull=True) | Q(person__deceased_on__gt=timezone.localdate())
        expected = (
            Membership.objects.filter(living, household_id=household_id, date_out__isnull=True)
            .order_by("relation", "id")
            .values_list("relation", flat=True)
        )
        assert [m["relation"] for m in members] == list(expected)


# ---------------------------------------------------------------- fingerprints


def _fingerprints(area, tmp_path, name):
    python, sql = _both(area, tmp_path, name)
    assert_same(python, sql)
    return python.fingerprints, sql.fingerprints


def _changed(before: dict, after: dict) -> set[int]:
    assert before.keys() == after.keys()
    return {h for h in before if before[h] != after[h]}


def test_a_fingerprint_changes_with_its_household_and_only_with_it(demo_city, tmp_path):
    import json

    from ejia.registry.models import Membership, Person
    from ejia.registry.services import person_ensure, person_id_number_reveal, status_begin
    from ejia.verification.models import DataSource
    from ejia.verification.services import snapshot_import

    clerk = demo_city["window_clerk"]
    county = Division.objects.get(code="371602")
    python, sql = _fingerprints(county, tmp_path, "first")
    assert _fingerprints(county, tmp_path, "again") == (python, sql), "nothing changed, the same digests"

    # The registry corrects a member's name.
    member = Membership.objects.filter(date_out__isnull=True, household_id__in=list(sql)).order_by("pk").first()
    person = Person.objects.get(pk=member.person_id)
    number = person_id_number_reveal(actor=clerk, person=person, reason="更正姓名")
    person_ensure(actor=clerk, id_number=number, name=person.name + "更正", reason="更正姓名")
    python_now, sql_now = _fingerprints(county, tmp_path, "renamed")
    assert _changed(sql, sql_now) == _changed(python, python_now) == {member.household_id}
    python, sql = python_now, sql_now

    # Another household is found in relapse monitoring (a status, not a registry fact).
    other = next(h for h in sorted(sql) if h != member.household_id)
    from ejia.registry.models import Household

    status_begin(
        actor=clerk, household=Household.objects.get(pk=other), kind="relapse_monitoring", start=timezone.localdate()
    )
    python_now, sql_now = _fingerprints(county, tmp_path, "status")
    assert _changed(sql, sql_now) == _changed(python, python_now) == {other}
    python, sql = python_now, sql_now

    # A department sends its file again without its last record: a new committed snapshot.
    departments = tmp_path / "city" / "departments"
    entry = next(
        e
        for e in json.loads((departments / "manifest.json").read_text("utf-8"))["files"]
        if DataSource.objects.get(code=e["source"]).kind == "deposit"
    )
    path = departments / entry["file"]
    encoding = "utf-8-sig" if entry["encoding"] == "utf-8-sig" else entry["encoding"]
    lines = path.read_text(encoding).splitlines(keepends=True)
    shorter = tmp_path / f"shorter-{entry['file']}"
    shorter.write_text("".join(lines[:-1]), encoding)
    snapshot_import(actor=None, source=DataSource.objects.get(code=entry["source"]), path=shorter)
    python_now, sql_now = _fingerprints(county, tmp_path, "snapshot")
    changed = _changed(sql, sql_now)
    assert changed == _changed(python, python_now)
    assert 1 <= len(changed) < len(sql), "the household of the record dropped, no other"


# ---------------------------------------------------------------- odd values


ODD = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 0, 1, 2, 9]),
    st.sampled_from([1.0, 2.5, -3.0, 1e20, 0.0]),
    st.booleans(),
    st.none(),
    st.sampled_from(
        [
            *("12", " 7 ", "1_000", "+3", "-0", "abc", "", "true", "True", "FALSE", "1", "0", "1.5", "1e3"),
            *("2025-01-05", "20250105", "2025-02-30", "0000-01-01", "2025-1-5", "M", "F", "physical"),
            *("renting", "unemployed", "owned_ok", "primary", "全部", "১২"),
        ]
    ),
    st.just([1]),
    st.just({"a": 1}),
)
H_KEYS = [
    "vehicles",
    "financial_assets_fen",
    "housing_units",
    "has_business",
    "housing_condition",
    "on_dibao",
    "lifted_from_poverty",
    "death_in_household_year",
    "size",
    "urban",
    "region_code",
    "income_total_month_fen",
    "not_a_fact",
]
M_KEYS = [
    "income_month_fen",
    "disability_grade",
    "disability_kind",
    "employment",
    "serious_illness",
    "school_stage",
    "birth_date",
    "sex",
    "relation",
    "age",
    "deceased",
    "id_number",
]


def test_odd_registry_values_are_read_or_refused_alike_by_both_exports(org, tmp_path):
    import itertools

    from ejia.registry.services import household_create, membership_add, person_ensure
    from ejia.registry.tests.factories import new_id, village

    area = village()
    seen: list[tuple[int, int]] = []
    runs = itertools.count()

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        household=st.dictionaries(st.sampled_from(H_KEYS), ODD, max_size=4),
        members=st.lists(st.dictionaries(st.sampled_from(M_KEYS), ODD, max_size=3), min_size=1, max_size=3),
    )
    def check(household, members):
        home = household_create(actor=None, division=area, facts=household)
        for i, facts in enumerate(members):
            person = person_ensure(actor=None, id_number=new_id(), name=f"成员{i}")
            membership_add(actor=None, household=home, person=person, relation="02" if i == 0 else "20", facts=facts)
        python, sql = _both(area, tmp_path, f"odd-{next(runs)}")
        assert_same(python, sql)
        seen.append((sql.households, sql.skipped))

    check()
    households, skipped = seen[-1]
    assert households > 0 and skipped > 0, "odd values both read and refused"


# Values next to the canonical JSON texts the SQL export reads without Python (digits,
# `true`/`false`, a quoted code): each in a household of its own, so that each is read or
# refused alike by both exports (a float with a fraction is refused, not rounded).
NEAR_CANONICAL = {
    "vehicles": [2.5, -2.5, 1.0, -3.0, 1e20, 2**63, 2**63 - 1, -(2**63), -(2**63) - 1, "12", True, 0, -7],
    "financial_assets_fen": [0.5, 10**30, "-4"],
    "has_business": [1, 0, 2, "true", "True", "1", True, False, 1.0],
    "housing_condition": ["owned_ok", "Owned_ok", " owned_ok", "owned_ok ", 1, True],
}
NEAR_CANONICAL_MEMBER = {
    "disability_grade": [2.5, 3.0, "3", 10**30, False],
    "income_month_fen": [1.5, 2**63, "100"],
    "serious_illness": [0, "false", 1.0],
    "employment": ["unemployed", "Unemployed", 0],
}


def test_values_next_to_the_canonical_json_texts_are_read_or_refused_alike(org, tmp_path):
    from ejia.registry.services import household_create, membership_add, person_ensure
    from ejia.registry.tests.factories import new_id, village

    area = village()
    cases = [({key: value}, {}) for key, values in NEAR_CANONICAL.items() for value in values]
    cases += [({}, {key: value}) for key, values in NEAR_CANONICAL_MEMBER.items() for value in values]
    for household, member in cases:
        home = household_create(actor=None, division=area, facts=household)
        person = person_ensure(actor=None, id_number=new_id(), name="成员")
        membership_add(actor=None, household=home, person=person, relation="02", facts=member)
    python, sql = _both(area, tmp_path)
    assert_same(python, sql)
    assert python.households + python.skipped == len(cases)
    assert python.households > 0 and python.skipped > 0


def test_fingerprints_do_not_depend_on_how_many_households_a_pass_takes(demo_city, tmp_path, monkeypatch):
    """At full city the fingerprints are built in passes of FINGERPRINT_CHUNK households (one
    pass held every member's text and ran out of memory); the digests must be the same."""
    from ejia.discovery import bulk_export

    county = Division.objects.get(code="371602")

    def export(name):
        reader = Reader.for_area(county, timezone.localdate(), sources_committed())
        return export_area_sql(reader, county, tmp_path / name, fingerprints=True).fingerprints

    whole = export("whole")
    monkeypatch.setattr(bulk_export, "FINGERPRINT_CHUNK", 7)  # uneven: the last pass is short
    passes = export("passes")
    assert len(whole) > 7 * 3 and passes == whole


def test_select_fingerprints_only_the_households_it_returns(demo_city, tmp_path):
    """The scan evaluates the written files on the export's own DuckDB connection and asks for
    the fingerprints of the households some programme finds only: both exports then keep those
    and exactly those, each equal to the digest a full export gives it."""
    import duckdb

    county = Division.objects.get(code="371602")
    full_python, full_sql = _both(county, tmp_path, "full")
    ids = sorted(full_sql.fingerprints)
    chosen = [*ids[::3], 10**12]  # a household the export does not hold is ignored
    calls = []

    def select(folder, con):
        calls.append(con)
        # The files are complete when it is called: what the scan evaluates.
        assert pq.read_table(folder / "households.parquet").num_rows == full_sql.households
        assert pq.read_table(folder / "standards.parquet").num_rows > 0
        if con is not None:
            (n,) = con.execute(f"SELECT count(*) FROM read_parquet('{folder / 'members.parquet'}')").fetchone()
            assert n == full_sql.members
        return chosen

    reader = Reader.for_area(county, timezone.localdate(), sources_committed())
    sql = export_area_sql(reader, county, tmp_path / "only-sql", fingerprints=True, select=select)
    reader = Reader.for_area(county, timezone.localdate(), sources_committed())
    python = export_area(reader, county, tmp_path / "only-python", fingerprints=True, select=select)
    assert isinstance(calls[0], duckdb.DuckDBPyConnection) and calls[1] is None
    assert sorted(sql.fingerprints) == sorted(python.fingerprints) == ids[::3]
    assert sql.fingerprints == {h: full_sql.fingerprints[h] for h in ids[::3]}
    assert python.fingerprints == {h: full_python.fingerprints[h] for h in ids[::3]}
    assert set(sql.phases) == {"pull", "facts", "build", "write", "fingerprints"}


@pytest.mark.django_db(transaction=True)
def test_the_members_copied_on_a_second_connection_give_the_same_export(demo_city, tmp_path, monkeypatch):
    """Outside a transaction (the scan's job) PostgreSQL copies the members on a second
    connection while the export goes on; inside one (where a second connection would not see
    uncommitted rows) they are pulled in turn. Both give the same files and fingerprints."""
    from django.db import connection, transaction

    from ejia.discovery import bulk_export

    county = Division.objects.get(code="371602")
    threads = []
    original = bulk_export._Pending.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        threads.append(self.thread)

    monkeypatch.setattr(bulk_export._Pending, "__init__", spy)

    def export(name):
        reader = Reader.for_area(county, timezone.localdate(), sources_committed())
        return export_area_sql(reader, county, tmp_path / name, fingerprints=True)

    beside = export("beside")
    with transaction.atomic():
        in_turn = export("in-turn")
    assert threads[1] is None, "inside a transaction the members are pulled on this connection"
    assert (threads[0] is not None) == (connection.vendor == "postgresql")
    assert beside.households > 50 and beside.fingerprints == in_turn.fingerprints
    for path, keys in (("households_path", ["household_id"]), ("members_path", ["household_id", "member_index"])):
        assert _rows(getattr(beside, path), keys) == _rows(getattr(in_turn, path), keys)
