"""The big buttons at the top of a staff member's home page: a grid worker on a phone starts
an application (代办申请), opens the ones they filed, or reports a family in hardship met on
the round (上报困难), one tap after logging in."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse


def home_actions(user) -> dict[str, tuple[str, str]]:
    client = Client()
    client.force_login(user)
    response = client.get(reverse("accounts:home"))
    assert response.status_code == 200
    return {a.key: (str(a.label), a.url) for a in response.context["actions"]}


def test_a_grid_worker_applies_for_a_household_from_the_home_page(gina):
    actions = home_actions(gina)
    assert actions == {
        "intake": ("代办申请", reverse("cases:intake_start")),
        "my_cases": ("我代办的申请", reverse("cases:queue")),
        "report": ("上报困难", reverse("discovery:report")),
    }
    client = Client()
    client.force_login(gina)
    html = client.get(reverse("accounts:home")).content.decode()
    # The buttons come before the identity and scope cards: first on a phone's screen.
    assert html.index('data-testid="action-intake"') < html.index('id="who"')
    assert client.get(reverse("cases:intake_start")).status_code == 200
    assert client.get(reverse("discovery:report")).status_code == 200


def test_a_village_clerk_takes_in_applications_and_lists_their_own(alice):
    assert home_actions(alice) == {
        "intake": ("受理申请", reverse("cases:intake_start")),
        "my_cases": ("我受理的申请", reverse("cases:queue")),
        "report": ("上报困难", reverse("discovery:report")),
    }


def test_a_window_clerk_has_the_intake_button_and_the_queue_among_the_work(bob):
    assert home_actions(bob) == {"intake": ("受理申请", reverse("cases:intake_start"))}


def test_who_cannot_take_in_an_application_gets_no_button(dave, erin):
    assert home_actions(dave) == {}
    assert home_actions(erin) == {}
