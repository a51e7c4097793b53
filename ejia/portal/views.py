"""Public pages: home, the programme catalogue (查政策), a programme, elder mode, county."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ejia.accounts.policies import public_view
from ejia.portal import catalogue, selectors
from ejia.portal.forms import CatalogueFilterForm, CountyForm

ELDER_COOKIE = "elder"
COUNTY_COOKIE = "county"
ONE_YEAR = 365 * 24 * 3600
DEFAULT_COUNTY = "371602"  # 滨城区, the seat of the city government


def _safe_next(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return default
    return target


@public_view
def home_view(request):
    return render(request, "portal/home.html", {"featured": catalogue.featured()})


@public_view
def catalogue_view(request):
    everything = catalogue.programmes()  # read once: the options, the total and, unfiltered, the list
    form = CatalogueFilterForm(request.GET or None, **catalogue.filter_options(everything))
    filters = form.cleaned_data if form.is_valid() else {}
    if any(filters.values()):
        programmes = catalogue.search(
            q=filters.get("q", ""),
            department=filters.get("department", ""),
            category=filters.get("category", ""),
            group=filters.get("group", ""),
        )
    else:
        programmes = everything
    context = {
        "form": form,
        "programmes": programmes,
        "total": len(everything),
        "filtered": any(filters.values()),
        "nav": "catalogue",
    }
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "catalogue-results":
        return render(request, "portal/catalogue.html#results", context)
    return render(request, "portal/catalogue.html", context)


@public_view
def programme_view(request, code: str):
    page = catalogue.programme_page(code, on=timezone.localdate(), county_code=_county_code(request))
    if page is None:
        raise Http404
    form = CountyForm(initial={"county": page.county.code if page.county else "", "next": request.get_full_path()})
    return render(request, "portal/programme.html", {"p": page, "county_form": form, "nav": "catalogue"})


def _county_code(request) -> str:
    code = request.COOKIES.get(COUNTY_COOKIE, "")
    return code if selectors.county_get(code) else DEFAULT_COUNTY


@public_view
@require_POST
def county_view(request):
    form = CountyForm(request.POST)
    response = redirect(_safe_next(request, "/programmes/"))
    if form.is_valid():
        response.set_cookie(COUNTY_COOKIE, form.cleaned_data["county"], max_age=ONE_YEAR, samesite="Lax")
    return response


@public_view
@require_POST
def elder_view(request):
    """Switch elder mode on or off; remembered for a year in the `elder` cookie."""
    response = redirect(_safe_next(request))
    if request.POST.get("elder") == "1":
        response.set_cookie(ELDER_COOKIE, "1", max_age=ONE_YEAR, samesite="Lax")
    else:
        response.delete_cookie(ELDER_COOKIE, samesite="Lax")
    return response
