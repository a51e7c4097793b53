from django.test import Client

from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application


def test_the_home_page_counts_the_clerks_open_cases_and_not_another_townships(bob, carol, catalogue):
    case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="home-1", data=application())
    mine, theirs = Client(), Client()
    mine.force_login(bob)
    theirs.force_login(carol)
    bob_home = mine.get("/staff/").content.decode()
    carol_home = theirs.get("/staff/").content.decode()
    assert 'data-testid="work-cases">1<' in bob_home
    assert 'data-testid="work-cases">0<' in carol_home
