"""The one pager every staff list includes: keeps the list's filter in both links."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.template.loader import render_to_string


def _page(number: int):
    return Paginator(list(range(120)), 50).get_page(number)


def test_the_links_keep_the_filter_and_name_the_pages():
    html = render_to_string("includes/pager.html", {"page": _page(2), "query": "show=all"})
    assert 'href="?show=all&page=1"' in html and 'href="?show=all&page=3"' in html and "2 / 3" in html


def test_without_a_filter_the_links_are_the_page_alone():
    html = render_to_string("includes/pager.html", {"page": _page(1), "query": ""})
    assert 'href="?page=2"' in html and "上一页" not in html


def test_one_page_shows_no_pager():
    html = render_to_string("includes/pager.html", {"page": Paginator([1], 50).get_page(1), "query": "x=1"})
    assert html.strip() == ""


def test_a_lead_list_filter_is_kept_through_the_include():
    from django.template import Context, Template

    html = Template('{% include "includes/pager.html" with query="show="|add:show small=True %}').render(
        Context({"page": _page(1), "show": "closed"})
    )
    assert 'href="?show=closed&page=2"' in html and "pagination-sm" in html
