import pytest

from conftest import _unit, make_staff
from ejia.accounts.models import Role
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application


@pytest.fixture
def procedures(org):
    from ejia.cases.workflow.procedures import procedures_seed
    from ejia.catalogue.seed import catalogue_seed
    from ejia.core.outbox import templates_seed

    catalogue_seed()
    procedures_seed()
    templates_seed()


@pytest.fixture
def bob2(org):
    """A second clerk of 市中街道's window: home visits need two staff."""
    return make_staff("bob2", _unit("371602001", "window"), Role.WINDOW_CLERK, display_name="陈刚")


@pytest.fixture
def jy(org):
    """教育 approver of 滨城区."""
    return make_staff("jy", _unit("371602", "department", "jy"), Role.DEPT_APPROVER, display_name="吴老师")


@pytest.fixture
def submit_case(bob, procedures):
    counter = iter(range(1, 1000))

    def submit(programmes=("dibao",), actor=None, members=(), **extra):
        data = application(*members, programmes=programmes, **extra)
        case = case_submit(actor=actor or bob, channel=Channel.WINDOW, idempotency_key=f"wf-{next(counter)}", data=data)
        from ejia.cases.workflow.services import procedures_start_for_case

        procedures_start_for_case(case)
        return case

    return submit


@pytest.fixture
def finished_check(procedures):
    """Make a case's one-click check as the departments answered it (see `checks`)."""
    from ejia.cases.workflow.tests.checks import check_finished
    from ejia.verification.sources import sources_seed

    sources_seed()
    return check_finished
