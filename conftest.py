"""Shared fixtures: the organisation and the personas every test speaks of.

- alice: village clerk in 市中街道's first community (滨城区)
- bob: window clerk of 市中街道 (滨城区)
- carol: window clerk of 三河湖镇 (another township of 滨城区)
- dave: county reviewer at 滨城区's assistance centre
- erin: 医保 approver of 滨城区; frank: 医保 approver of 惠民县 (another county)

Staff pages need a session that passed the second factor. The test client's `login()` and
`force_login()` therefore also pass it, as a real login does: through django-otp's `login()`
with the person's confirmed TOTP device (made on first use). `login_with_code()` goes the whole
way through the login form and the second factor page with a real code (`totp_code()`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password
from django.http import HttpRequest
from django.test import Client

from ejia.accounts.models import Division, OrgUnit, Role, User
from ejia.accounts.services import departments_ensure, divisions_upsert, orgunits_ensure, read_base_divisions
from ejia.demo.villages import villages_for_township

TEST_PASSWORD = "correct-horse-battery"  # noqa: S105
_HASH = None

# A small slice of the city keeps the fixtures fast: two counties, three townships.
TEST_TOWNSHIPS = ("371602001", "371602105", "371621101")


@functools.cache
def _org_rows() -> tuple:
    """Read once per worker: the rows are frozen dataclasses, the CSV and the generated
    villages do not change during a run."""
    base = read_base_divisions()
    keep = []
    for row in base:
        if row.level in ("city", "county") or row.code in TEST_TOWNSHIPS:
            keep.append(row)
    for row in base:
        if row.code in TEST_TOWNSHIPS:
            keep.extend(villages_for_township(row.code, row.kind)[:3])
    return tuple(keep)


# ---- The fast lane: ./scripts/test.sh -m "not e2e and not slow" (README). Every test under
# e2e/ is a browser test, marked e2e here even if its module forgot to say so. These are the
# slowest of the rest (each several seconds of CPU or more on a 2-core machine: the whole-site
# access replays, the synthetic city, the rule-language fuzzers, the oracle sweeps); the full
# run (CI) keeps them. A file, or a file::test; tests/test_fast_lane.py checks each one exists.
E2E_DIR = Path(__file__).resolve().parent / "e2e"
SLOW = (
    "ejia/api/tests/test_schema_fuzz.py",
    "ejia/api/tests/test_api_matrix.py::test_the_authorisation_matrix",
    "ejia/accounts/tests/test_access_replay.py",
    "ejia/accounts/tests/test_access_matrix.py",
    "ejia/accounts/tests/test_login.py::test_production_settings_pass_the_deploy_check",
    "ejia/cases/tests/test_plan_migration.py::test_old_plans_open_after_the_migration",
    "ejia/core/tests/test_idnumber.py::test_single_digit_errors_are_caught_like_the_oracle_does",
    "ejia/core/tests/test_idnumber.py::test_generated_numbers_agree_with_the_stdnum_oracle",
    "ejia/cases/workflow/tests/test_page_queries.py::test_the_staff_pages_cost_as_many_queries_with_many_rows_as_with_few",
    "ejia/demo/tests/test_city.py",
    "ejia/demo/tests/test_demo_cases.py",
    "ejia/discovery/tests/test_scan.py::test_a_second_scan_updates_the_same_leads_and_closes_those_whose_reason_went_away",
    "ejia/discovery/tests/test_scan.py::test_a_family_that_declined_is_not_found_again_within_the_cool_off",
    "ejia/discovery/tests/test_scan_incremental.py::test_a_changed_household_is_explained_again_and_its_lead_rewritten_the_others_are_left",
    "ejia/discovery/tests/test_scan_incremental.py::test_a_lead_closed_by_a_visit_has_its_household_explained_again_and_stays_closed",
    "ejia/discovery/tests/test_scan_incremental.py::test_a_catalogue_change_explains_every_household_again",
    "ejia/disbursement/tests/test_demo_batch.py",
    "ejia/rules/tests/test_checker.py::test_any_text_gives_a_rule_error_or_nothing",
    "ejia/rules/tests/test_checker.py::test_near_misses_built_from_the_language_never_crash",
    "ejia/rules/tests/test_parity.py::test_explained_and_bulk_agree_on_duckdb",
    "ejia/verification/tests/test_background_import.py::test_a_refusal_found_while_reading_the_rows_is_shown_and_nothing_is_kept",
    "ejia/verification/tests/test_checks.py::test_verified_facts_equal_the_city_the_departments_describe",
    "ejia/verification/tests/test_import.py::test_the_cli_exit_code_is_non_zero_on_refusal",
)


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        path = Path(str(item.path)).resolve()
        if E2E_DIR in path.parents:
            item.add_marker(pytest.mark.e2e)
        node = item.nodeid.split("[")[0]
        if any(node == slow or node.startswith(slow + "::") for slow in SLOW):
            item.add_marker(pytest.mark.slow)


# ---------------------------------------------------------------- the second factor in tests

_PASSWORD_ONLY_LOGIN = Client._login


def second_factor_device(user: User):
    """The person's confirmed authenticator (django-otp's TOTPDevice), made with a fresh secret
    the first time."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from ejia.accounts.second_factor import TOTP_DEVICE_NAME, is_enrolled, totp_device

    if not is_enrolled(user):
        TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)
    return totp_device(user)


def totp_code(user: User) -> str:
    """A code the person's authenticator would show that the platform accepts now."""
    from ejia.demo.second_factor import next_code

    return next_code(second_factor_device(user))


def _login_passing_second_factor(client: Client, user, backend=None) -> None:
    from django_otp import login as otp_login

    _PASSWORD_ONLY_LOGIN(client, user, backend)
    request = HttpRequest()
    request.session = client.session
    request.user = user
    otp_login(request, second_factor_device(user))
    request.session.save()


def login_with_code(client: Client, user, *, password: str = TEST_PASSWORD, next_url: str = ""):
    """Sign in as a person does: the login form, then the second factor page with a real code.
    Returns the second factor page's answer (a redirect to where the person was going)."""
    query = f"?next={next_url}" if next_url else ""
    response = client.post(f"/staff/login/{query}", {"username": user.username, "password": password})
    assert response.status_code == 302 and response["Location"].startswith("/staff/second-factor/"), response
    response = client.post(response["Location"], {"code": totp_code(user)})
    assert response.status_code == 302, response.content.decode()[:500]
    return response


@pytest.fixture(autouse=True)
def _test_logins_pass_second_factor(monkeypatch):
    monkeypatch.setattr(Client, "_login", _login_passing_second_factor)


@pytest.fixture(autouse=True)
def _audit_anchor_in_tmp(settings, tmp_path):
    """Each test has its own audit anchor file (the database rolls back between tests)."""
    settings.EJIA_AUDIT_ANCHOR_FILE = tmp_path / "audit-anchor.json"


@pytest.fixture
def org(db):
    divisions_upsert(_org_rows())
    departments_ensure()
    orgunits_ensure()
    return Division.objects.get(code="371600")


def make_staff(username: str, unit: OrgUnit, *roles: str, display_name: str = "") -> User:
    global _HASH
    if _HASH is None:
        _HASH = make_password(TEST_PASSWORD)
    user = User.objects.create(username=username, display_name=display_name or username, unit=unit, password=_HASH)
    for role in roles:
        user.roles.create(role=role)
    return user


def _unit(code: str, kind: str, dept: str | None = None) -> OrgUnit:
    qs = OrgUnit.objects.filter(division__code=code, kind=kind)
    if dept:
        qs = qs.filter(department__code=dept)
    return qs.get()


def first_village(township_code: str) -> Division:
    return Division.objects.filter(parent__code=township_code).order_by("code").first()


@pytest.fixture
def alice(org):
    return make_staff(
        "alice", _unit(first_village("371602001").code, "station"), Role.VILLAGE_CLERK, display_name="张小红"
    )


@pytest.fixture
def bob(org):
    return make_staff("bob", _unit("371602001", "window"), Role.WINDOW_CLERK, display_name="王丽")


@pytest.fixture
def carol(org):
    return make_staff("carol", _unit("371602105", "window"), Role.WINDOW_CLERK, display_name="赵强")


@pytest.fixture
def dave(org):
    return make_staff("dave", _unit("371602", "centre"), Role.COUNTY_REVIEWER, display_name="刘芳")


@pytest.fixture
def erin(org):
    return make_staff("erin", _unit("371602", "department", "yb"), Role.DEPT_APPROVER, display_name="周敏")


@pytest.fixture
def frank(org):
    return make_staff("frank", _unit("371621", "department", "yb"), Role.DEPT_APPROVER, display_name="钱进")


@pytest.fixture
def demo_city(org, settings, tmp_path):
    """The small city in 市中街道 with its department snapshots, the catalogue, the procedures
    and the demo staff: what `ejia_demo_seed` has loaded when it calls the demo cases. Returns
    the demo staff by username."""
    from ejia.cases.workflow.procedures import procedures_seed
    from ejia.catalogue.seed import catalogue_seed
    from ejia.core.outbox import templates_seed
    from ejia.demo.staff import demo_staff_ensure
    from ejia.verification.sources import sources_seed
    from ejia.verification.tests.city import small_city_loaded

    settings.VAR_DIR = tmp_path / "var"
    settings.MEDIA_ROOT = tmp_path / "media"
    catalogue_seed()
    procedures_seed()
    templates_seed()
    sources_seed()
    small_city_loaded(tmp_path / "city")
    demo_staff_ensure()
    return {u.username: u for u in User.objects.all()}


def race(*attempts, expected: dict[type[BaseException], Callable[[BaseException], str]] | None = None) -> list[str]:
    """Run the attempts in threads released at once (PostgreSQL race tests); each returns its
    outcome label. An exception listed in `expected` is labelled by its function; anything else
    raised is reported by its repr, so that the test's assertion shows it."""
    from django.db import connections

    barrier = threading.Barrier(len(attempts))
    outcomes: list[str] = []
    expected = expected or {}

    def run(attempt):
        try:
            barrier.wait()
            outcomes.append(attempt())
        except tuple(expected) as exc:
            label = next(fn for kind, fn in expected.items() if isinstance(exc, kind))
            outcomes.append(label(exc))
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
