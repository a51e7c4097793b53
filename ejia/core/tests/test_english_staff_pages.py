"""Staff pages read in English once the user picks English with the footer switcher.

The page's own words (headings, table headers, buttons, form labels) must not stay Chinese;
names, addresses, programme names and other data values may, so only those elements are
checked, not the whole page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from conftest import TEST_PASSWORD
from ejia.cases.workflow.models import RequestProcedure
from ejia.cases.workflow.tests.conftest import finished_check, procedures, submit_case  # noqa: F401
from ejia.verification.models import DataSource
from ejia.verification.tests.conftest import _staging_in_tmp, olga, sources  # noqa: F401

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")
WORDS = frozenset({"h1", "h2", "th", "button", "label", "dt", "summary"})
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


class _PageWords(HTMLParser):
    """Text of the WORDS elements inside <main>, skipping everything under an element whose
    data-testid is in `skip` (sections that show department data, such as column names)."""

    def __init__(self, skip: frozenset[str]):
        super().__init__(convert_charrefs=True)
        self.skip = skip
        self.stack: list[tuple[str, bool]] = []  # (tag, skipped)
        self.in_main = False
        self.open: list[list] = []  # [tag, text parts]
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.in_main = True
        if tag in VOID:
            return
        attrs = dict(attrs)
        skipped = (bool(self.stack) and self.stack[-1][1]) or attrs.get("data-testid") in self.skip
        self.stack.append((tag, skipped))
        if self.in_main and tag in WORDS and not skipped:
            self.open.append([tag, []])

    def handle_endtag(self, tag):
        if tag == "main":
            self.in_main = False
        if tag in VOID:
            return
        while self.stack:
            top, skipped = self.stack.pop()
            if self.open and top == self.open[-1][0] and top in WORDS and not skipped:
                name, parts = self.open.pop()
                self.found.append((name, " ".join("".join(parts).split())))
            if top == tag:
                break

    def handle_data(self, data):
        for _tag, parts in self.open:
            parts.append(data)


def page_words(html: str, skip=frozenset()) -> list[tuple[str, str]]:
    parser = _PageWords(frozenset(skip))
    parser.feed(html)
    return parser.found


def in_english(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    response = client.post(reverse("set_language"), {"language": "en", "next": "/staff/"})
    assert response.status_code == 302
    return client


def assert_english(client: Client, url: str, *, expect: str, skip=frozenset(), data=()) -> list[tuple[str, str]]:
    response = client.get(url)
    assert response.status_code == 200, url
    html = response.content.decode()
    assert expect in html, f"{url}: {expect!r} missing"
    words = page_words(html, skip)
    assert any(tag == "h1" for tag, _ in words) or any(tag == "h2" for tag, _ in words), url
    chinese = [(tag, text) for tag, text in words if CJK.search(_without(text, data))]
    assert not chinese, f"{url} still shows Chinese: {chinese}"
    return words


def _without(text: str, data) -> str:
    for value in data:
        text = value.sub("", text) if isinstance(value, re.Pattern) else text.replace(value, "")
    return text


def test_the_switch_to_english_is_what_the_pages_follow(bob):
    """Without choosing English the same page is Chinese (the check below can fail)."""
    html = Client()
    assert html.login(username="bob", password=TEST_PASSWORD)
    words = page_words(html.get("/staff/work/notices/").content.decode())
    assert ("h1", "公示管理") in words


def test_exchange_operator_pages_in_english(olga, sources):  # noqa: F811
    client = in_english(olga)
    words = assert_english(client, reverse("verification:sources"), expect="Department data exchange")
    assert ("th", "Data source") in words and ("h1", "Department data exchange") in words
    source = DataSource.objects.get(code="cl_disability")
    # The heading is the source's name and department; the file field's label comes from the
    # form (Python), not the template.
    words = assert_english(
        client,
        reverse("verification:upload", args=[source.code]),
        expect="Upload and preview",
        data=[source.name, source.department, "部门导出文件"],
    )
    assert ("th", "Allowed values") in words and ("button", "Upload and preview") in words


def test_annual_review_list_in_english(dave):
    client = in_english(dave)
    words = assert_english(client, reverse("verification:reviews"), expect="Start batch check")
    assert ("button", "Start batch check") in words
    assert ("th", "Departments not queried") in words


def test_work_queue_notices_and_procedure_in_english(bob, dave, submit_case):  # noqa: F811
    case = submit_case()
    procedure = RequestProcedure.objects.get(case=case)
    client = in_english(bob)
    # The programme's name, the current step and the rules engine's outcome are data.
    names = [case.applicant.name, procedure.request.programme.name, procedure.step.name, re.compile(r"\): \S+$")]

    words = assert_english(client, "/staff/work/?tab=unit", expect=case.reference)
    assert ("h1", "Case handling") in words and ("th", "Reference no.") in words
    assert ("button", "Claim") in words

    words = assert_english(client, reverse("workflow:notices"), expect="Notices published")
    assert ("h1", "Public notices") in words

    url = reverse("workflow:procedure", args=[procedure.public_id])
    words = assert_english(client, url, expect="Handling record", data=names)
    assert ("h2", "Handling record") in words
    assert any(tag == "button" and text.startswith("Complete this step") for tag, text in words)

    assert_english(
        in_english(dave),
        reverse("workflow:joint_review", args=[case.public_id]),
        expect="Joint review",
        data=[case.reference, procedure.request.programme.name],
    )


def test_case_verification_page_in_english(bob, submit_case, finished_check):  # noqa: F811
    case = submit_case()
    client = in_english(bob)
    url = reverse("cases:verification", args=[case.public_id])
    words = assert_english(client, url, expect="One-click check")
    assert ("button", "One-click check") in words

    finished_check(case)
    # Member sections show the departments' own column names (data), so they are left out.
    words = assert_english(client, url, expect="Check summary", skip={"member"})
    assert ("h2", "Department data sources") in words and ("th", "Records found") in words


class _Texts(HTMLParser):
    """Text of every element, with the data-testids of the element and its ancestors."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[list] = []  # [tag, own testid, testids, text parts]
        self.found: list[tuple[str, str | None, tuple[str, ...], str]] = []

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        testid = dict(attrs).get("data-testid")
        above = self.stack[-1][2] if self.stack else ()
        self.stack.append([tag, testid, above + ((testid,) if testid else ()), []])

    def handle_endtag(self, tag):
        while self.stack:
            top, own, testids, parts = self.stack.pop()
            self.found.append((top, own, testids, " ".join("".join(parts).split())))
            if top == tag:
                break

    def handle_data(self, data):
        for *_, parts in self.stack:
            parts.append(data)


def texts(html: str, *, testid, tag=None) -> list[str]:
    """Texts of the elements whose data-testid passes `testid`, or with `tag`, of the `tag`
    elements inside them."""
    parser = _Texts()
    parser.feed(html)
    if tag is None:
        return [text for _name, own, _ids, text in parser.found if own and testid(own)]
    return [text for name, _own, ids, text in parser.found if name == tag and any(testid(t) for t in ids)]


def _procedure_with_records(case, bob) -> RequestProcedure:
    from ejia.cases.workflow import services as wf

    procedure = RequestProcedure.objects.get(case=case)
    procedure = wf.procedure_claim(actor=bob, procedure_id=procedure.pk, expected_version=procedure.version)
    return wf.procedure_complete(actor=bob, procedure_id=procedure.pk, expected_version=procedure.version)


def test_work_queue_tabs_records_and_state_from_python_in_english(bob, submit_case):  # noqa: F811
    """Tab names, handling-record actions, the state badge and home-page work items come from
    Python (choices and label constants), not from the templates."""
    case = submit_case()
    procedure = _procedure_with_records(case, bob)
    client = in_english(bob)

    html = client.get("/staff/work/?tab=unit").content.decode()
    tabs = texts(html, testid=lambda t: t.startswith("tab-"))
    assert len(tabs) >= 5 and not [t for t in tabs if CJK.search(t)], tabs
    assert any(t.startswith("Waiting for me") for t in tabs) and any(t.startswith("Due soon") for t in tabs)

    html = client.get(reverse("workflow:procedure", args=[procedure.public_id])).content.decode()
    actions = texts(html, testid=lambda t: t == "records", tag="strong")
    assert "Complete this step" in actions and "Claim" in actions, actions
    assert not [a for a in actions if CJK.search(a)], actions
    assert texts(html, testid=lambda t: t == "state") == ["In progress"]

    response = client.get("/staff/")
    labels = [str(item.label) for item in response.context["work_items"]]
    assert labels and not [label for label in labels if CJK.search(label)], labels


def test_the_same_pages_in_chinese(bob, submit_case):  # noqa: F811
    case = submit_case()
    procedure = _procedure_with_records(case, bob)
    client = Client()
    assert client.login(username="bob", password=TEST_PASSWORD)
    tabs = texts(client.get("/staff/work/").content.decode(), testid=lambda t: t.startswith("tab-"))
    assert any(t.startswith("待我办理") for t in tabs), tabs
    html = client.get(reverse("workflow:procedure", args=[procedure.public_id])).content.decode()
    assert "办结本环节" in texts(html, testid=lambda t: t == "records", tag="strong")
    assert texts(html, testid=lambda t: t == "state") == ["办理中"]


def test_annual_review_batch_tabs_and_outcome_in_english(dave):
    from ejia.disbursement.tests.conftest import household
    from ejia.verification.tests.factories import flagged_batch

    batch = flagged_batch(actor=dave, household=household()).batch
    html = in_english(dave).get(reverse("verification:review_batch", args=[batch.public_id])).content.decode()
    tabs = texts(html, testid=lambda t: t.startswith("tab-"))
    assert tabs == ["To handle 1", "Handled 0", "All 1"], tabs
    assert "No longer eligible" in texts(html, testid=lambda t: t == "flag", tag="span")
