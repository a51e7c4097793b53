from __future__ import annotations

from urllib.parse import unquote

from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from ejia.accounts.policies import Capability, staff_view
from ejia.core.audit import audit_record
from ejia.core.searches import search_asked
from ejia.registry.models import Person
from ejia.registry.panels import household_panels
from ejia.registry.selectors import current_membership, household_get_for_user, household_overview, household_search
from ejia.registry.services import RegistryError, person_id_number_reveal


@staff_view(Capability.HOUSEHOLD_READ, cache=False)
def household_search_view(request):
    """Search by ID number or reference. The form posts; the browser is sent on to a URL that
    carries the reference or a session handle, never an ID number (ejia.core.searches)."""
    path = reverse("registry:household_search")
    asked, move = search_asked(request)
    if move:
        return redirect(asked.url(path))
    search = household_search(user=request.user, query=asked.query)
    return render(request, "registry/household_search.html", {"search": search, "asked": asked})


@staff_view(Capability.HOUSEHOLD_READ, cache=False)
def household_detail_view(request, public_id):
    household = household_get_for_user(user=request.user, public_id=public_id)
    overview = household_overview(user=request.user, household=household)
    # Members, statuses and every department's benefits: a read of personal data, logged.
    audit_record(actor=request.user, action="registry.household_view", obj=household)
    panels = household_panels(user=request.user, household=household)
    return render(request, "registry/household_detail.html", {"o": overview, "household": household, "panels": panels})


def _prompt(request) -> str:
    """htmx sends the hx-prompt answer in a header, percent-encoded when it is not ASCII."""
    return unquote(request.headers.get("HX-Prompt", ""))


@staff_view(Capability.ID_REVEAL, cache=False)
@require_POST
def person_reveal_view(request, public_id):
    """htmx: replace a masked ID number by the full number after a stated reason (audited)."""
    person = Person.objects.filter(public_id=public_id).first()
    membership = current_membership(person) if person else None
    if person is None or membership is None:
        raise PermissionDenied("该人员不在您的数据权限范围内。")
    household_get_for_user(user=request.user, public_id=membership.household.public_id, capability=Capability.ID_REVEAL)
    try:
        reason = _prompt(request) or request.POST.get("reason", "")
        number = person_id_number_reveal(actor=request.user, person=person, reason=reason)
    except RegistryError as exc:
        return render(request, "registry/_reveal.html", {"person": person, "error": exc.message})
    return render(request, "registry/_reveal.html", {"person": person, "number": number})
