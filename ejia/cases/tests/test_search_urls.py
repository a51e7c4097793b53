"""ID and phone numbers never ride in a URL: the household search, the case queue (with and
without htmx) and the outbox post what they look for; the address bar, the browser history and
the links of the result pages carry a reference or a session handle (ejia.core.searches)."""

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application
from ejia.cases.tests.test_no_plaintext_id import plaintext_id_numbers
from ejia.core import idnumber
from ejia.core.searches import names_no_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(bob, catalogue):
    data = application()
    case = case_submit(actor=bob, channel="window", idempotency_key="search", data=data)
    case.id_number = data["members"][1]["id_number"]  # a member's number finds the family too
    case.form = data
    return case


def digits_of(url: str) -> str:
    return re.sub(r"\D", "", url)


def no_number_in(url: str, number: str) -> bool:
    """Neither the number nor its digits with separators stripped appear in the URL."""
    return number not in url and number[:17] not in digits_of(url)


def test_what_may_ride_in_a_url():
    number = idnumber.make("371602", dt.date(1980, 5, 17), 123)
    assert names_no_person("371602-20260501-0001") and names_no_person("371602-202605")
    assert names_no_person("") and names_no_person("张大山")
    for text in (
        number,
        number.lower(),
        f"{number[:4]} {number[4:8]} {number[8:12]} {number[12:16]} {number[16:]}",
        f"{number[:6]}-{number[6:14]}-{number[14:]}",  # shaped like a reference, but a valid ID
        number[:15],  # an ID number cut short still names a person
        "13812345678",
        "138-1234-5678",
        "+86 138 1234 5678",
    ):
        assert not names_no_person(text), text


def test_a_household_found_by_id_number_leaves_no_number_in_the_url(client, bob, case):
    client.force_login(bob)
    response = client.post(reverse("registry:household_search"), {"q": case.id_number})
    url = response["Location"]
    assert response.status_code == 302 and no_number_in(url, case.id_number)
    assert set(parse_qs(urlsplit(url).query)) == {"s"}
    page = client.get(url)
    html = page.content.decode()
    assert reverse("registry:household_detail", args=[case.household.public_id]) in html
    # The page keeps the number in the box (no-store page), and the form posts again.
    assert f'value="{case.id_number}"' in html and 'method="post"' in html
    assert "no-store" in page["Cache-Control"]
    # Reloading the URL, or coming back to it, searches again.
    assert reverse("registry:household_detail", args=[case.household.public_id]) in client.get(url).content.decode()
    # The same search gives the same handle (one history entry shape per search).
    assert client.post(reverse("registry:household_search"), {"q": case.id_number})["Location"] == url
    # The session keeps the number sealed: nothing readable in any table, sessions included.
    session = Session.objects.get().get_decoded()
    assert case.id_number not in str(session)
    assert plaintext_id_numbers() == []


def test_a_reference_may_stay_in_the_url(client, bob, case):
    client.force_login(bob)
    response = client.post(reverse("registry:household_search"), {"q": case.reference})
    assert parse_qs(urlsplit(response["Location"]).query) == {"q": [case.reference]}
    assert (
        reverse("registry:household_detail", args=[case.household.public_id])
        in client.get(response["Location"]).content.decode()
    )


def test_an_old_bookmark_with_an_id_number_moves_it_into_a_handle(client, bob, case):
    client.force_login(bob)
    response = client.get(reverse("registry:household_search"), {"q": case.id_number})
    assert response.status_code == 302 and no_number_in(response["Location"], case.id_number)
    assert (
        reverse("registry:household_detail", args=[case.household.public_id])
        in client.get(response["Location"]).content.decode()
    )


def test_a_handle_means_nothing_in_another_session(client, bob, carol, case):
    client.force_login(bob)
    url = client.post(reverse("registry:household_search"), {"q": case.id_number})["Location"]
    client.logout()
    client.force_login(bob)  # a new session: the old handle is gone
    html = client.get(url).content.decode()
    assert 'data-testid="search-expired"' in html and "请重新输入" in html
    assert reverse("registry:household_detail", args=[case.household.public_id]) not in html
    assert client.get(reverse("registry:household_search"), {"s": "../../x"}).status_code == 200


def test_a_mistyped_id_number_comes_back_with_its_message_and_stays_out_of_the_url(client, bob, case):
    client.force_login(bob)
    typo = case.id_number[:16]  # a digit short
    response = client.post(reverse("registry:household_search"), {"q": typo})
    assert no_number_in(response["Location"], typo) and typo[:9] not in response["Location"]
    html = client.get(response["Location"]).content.decode()
    assert "应为18位" in html and f'value="{typo}"' in html


def test_the_queue_searches_by_post_without_js_and_keeps_the_status(client, bob, case):
    client.force_login(bob)
    response = client.post(reverse("cases:queue"), {"q": case.id_number, "status": "submitted"})
    url = response["Location"]
    assert response.status_code == 302 and no_number_in(url, case.id_number)
    assert parse_qs(urlsplit(url).query)["status"] == ["submitted"]
    page = client.get(url)
    assert [c.pk for c in page.context["page"].object_list] == [case.pk]
    assert page.context["keep"] == urlsplit(url).query
    assert list(client.get(url.replace("submitted", "closed")).context["page"].object_list) == []


def test_the_queue_searches_by_htmx_post_and_pushes_a_url_without_the_number(client, bob, case):
    client.force_login(bob)
    response = client.post(reverse("cases:queue"), {"q": case.id_number, "status": ""}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert case.reference in html and "<html" not in html  # the rows only
    pushed = response["HX-Push-Url"]
    assert pushed.startswith(reverse("cases:queue") + "?s=") and no_number_in(pushed, case.id_number)
    # Back/forward after htmx: a full page from the handle (htmx asks for a history restore).
    restored = client.get(pushed, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restored.content.decode() and case.reference in restored.content.decode()
    # An empty search goes back to the whole queue, with a clean URL.
    empty = client.post(reverse("cases:queue"), {"q": ""}, headers={"HX-Request": "true"})
    assert empty["HX-Push-Url"] == reverse("cases:queue")


def test_the_queue_page_forms_post_and_its_rows_keep_no_history_snapshot(client, bob, case):
    client.force_login(bob)
    html = client.get(reverse("cases:queue")).content.decode()
    form = re.search(r'<form[^>]*data-testid="queue-search"[^>]*>', html).group(0)
    assert 'method="post"' in form and "hx-post" in form and "hx-get" not in form and "hx-push-url" not in form
    assert 'id="rows" hx-history="false"' in html  # htmx keeps no copy of the rows in localStorage
    for name in ("cases:queue", "registry:household_search"):
        assert "{#" not in client.get(reverse(name)).content.decode()  # no template comment leaks


def test_the_queue_pages_links_carry_the_handle_not_the_number(client, bob, case, monkeypatch):
    from django.core.paginator import Paginator

    # A second application of the same family (another programme): two rows, one per page.
    second = case_submit(
        actor=bob, channel="window", idempotency_key="search-2", data={**case.form, "programmes": ["linshi"]}
    )
    monkeypatch.setattr("ejia.cases.views.Paginator", lambda rows, _size: Paginator(rows, 1))
    client.force_login(bob)
    url = client.post(reverse("cases:queue"), {"q": case.id_number})["Location"]
    first = client.get(url)
    assert [c.pk for c in first.context["page"].object_list] == [second.pk]
    link = re.search(r'href="(\?[^"]*page=2)"', first.content.decode()).group(1).replace("&amp;", "&")
    assert no_number_in(link, case.id_number) and parse_qs(link[1:])["s"] == parse_qs(urlsplit(url).query)["s"]
    assert [c.pk for c in client.get(reverse("cases:queue") + link).context["page"].object_list] == [case.pk]


def test_the_outbox_search_by_phone_keeps_the_number_out_of_tabs_paging_and_retry(client, dave, case):
    client.force_login(dave)
    response = client.post(reverse("cases:outbox"), {"q": "138 1234 5678", "show": "pending"})
    url = response["Location"]
    assert "5678" not in url and parse_qs(urlsplit(url).query)["show"] == ["pending"]
    page = client.get(url)
    assert page.context["query"] == "138 1234 5678" and len(page.context["rows"]) == 1
    html = page.content.decode()
    handle = parse_qs(urlsplit(url).query)["s"][0]
    tabs = re.findall(r'data-testid="tab-[^"]*"', html)
    assert len(tabs) == 6 and f'href="?s={handle}&amp;show=failed"' in html
    assert "12345678" not in "".join(re.findall(r'href="[^"]*"', html))
    message = page.context["rows"][0]["m"]
    message.status = "failed"
    message.save(update_fields=["status"])
    back = client.post(reverse("cases:outbox_retry", args=[message.public_id]), {"show": "failed", "s": handle})
    assert back["Location"] == reverse("cases:outbox") + f"?s={handle}&show=failed"
    # A client that posts the phone itself in `q` still gets a URL without it.
    message.status = "failed"
    message.save(update_fields=["status"])
    back = client.post(reverse("cases:outbox_retry", args=[message.public_id]), {"q": "13812345678"})
    assert "5678" not in back["Location"]


def test_a_session_keeps_its_last_searches_sealed():
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    from django.test import RequestFactory

    from ejia.core.searches import KEEP, recall, remember

    request = RequestFactory().post("/")
    request.session = SessionStore()
    handles = [remember(request, f"1380000{n:04d}") for n in range(KEEP + 1)]
    assert recall(request, handles[0]) is None  # the oldest went
    assert recall(request, handles[-1]) == f"1380000{KEEP:04d}"
    assert "13800000" not in str(dict(request.session))
    assert recall(request, "not a handle!") is None
