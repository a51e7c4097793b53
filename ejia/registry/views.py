from __future__ import annotations

from urllib.parse import unquote

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.http import require_POST

from ejia.registry.models import Person
from ejia.registry.panels import household_panels
from ejia.registry.selectors import current_membership, household_get_for_user, household_overview, household_search
from ejia.registry.services import REVEAL_ROLES, RegistryError, person_id_number_reveal


@login_required
def household_search_view(request):
    search = household_search(user=request.user, query=request.GET.get("q", ""))
    return render(request, "registry/household_search.html", {"search": search})


@login_required
def household_detail_view(request, public_id):
    household = household_get_for_user(user=request.user, public_id=public_id)
    overview = household_overview(user=request.user, household=household)
    can_reveal = request.user.has_role(*REVEAL_ROLES)
    panels = household_panels(user=request.user, household=household)
    return render(
        request,
        "registry/household_detail.html",
        {"o": overview, "household": household, "can_reveal": can_reveal, "panels": panels},
    )


def _prompt(request) -> str:
    """htmx sends the hx-prompt answer in a header, percent-encoded when it is not ASCII."""
    return unquote(request.headers.get("HX-Prompt", ""))


@login_required
@require_POST
def person_reveal_view(request, public_id):
    """htmx: replace a masked ID number by the full number after a stated reason (audited)."""
    person = Person.objects.filter(public_id=public_id).first()
    membership = current_membership(person) if person else None
    if person is None or membership is None:
        raise PermissionDenied("该人员不在您的数据权限范围内。")
    household_get_for_user(user=request.user, public_id=membership.household.public_id)
    try:
        reason = _prompt(request) or request.POST.get("reason", "")
        number = person_id_number_reveal(actor=request.user, person=person, reason=reason)
    except RegistryError as exc:
        return render(request, "registry/_reveal.html", {"person": person, "error": exc.message})
    return render(request, "registry/_reveal.html", {"person": person, "number": number})
