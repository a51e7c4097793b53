"""The system administrator's pages: staff accounts and units of their area (the access
policy's ACCOUNTS_ADMIN). Nothing here opens a case or a household file."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ejia.accounts import second_factor, services
from ejia.accounts.forms import PasswordResetForm, SecondFactorResetForm, StaffCreateForm, StaffEditForm
from ejia.accounts.models import OrgUnit, Role
from ejia.accounts.policies import Capability, staff_view
from ejia.accounts.role_rules import where_text
from ejia.accounts.selectors import (
    staff_for_admin,
    staff_get_for_admin,
    unit_choices_for_admin,
    unit_list_for_admin,
    unit_staff_counts,
    units_for_admin,
)

PER_PAGE = 50

admin_page = staff_view(Capability.ACCOUNTS_ADMIN, cache=False)


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@admin_page
def staff_list_view(request):
    filters = {k: request.GET.get(k, "").strip() for k in ("q", "kind", "role", "active", "unit")}
    unit = units_for_admin(user=request.user).filter(pk=_int(filters["unit"]) or 0).first()
    qs = staff_for_admin(
        user=request.user,
        query=filters["q"],
        unit_kind=filters["kind"] if filters["kind"] in OrgUnit.Kind.values else "",
        role=filters["role"] if filters["role"] in Role.values else "",
        active=filters["active"],
        unit_id=unit.pk if unit else None,
    )
    context = {
        "page": Paginator(qs, PER_PAGE).get_page(request.GET.get("page")),
        "filters": filters,
        "unit": unit,
        "query": _query_without_page(request),
        "kinds": OrgUnit.Kind.choices,
        "roles": Role.choices,
    }
    if request.headers.get("HX-Request"):
        return render(request, "accounts/staff_list.html#rows", context)
    return render(request, "accounts/staff_list.html", context)


def _form_context(request, form, **extra) -> dict:
    """The unit picker shows the chosen unit and the first units of the area; typing narrows
    it through `unit_options_view`."""
    chosen = _int(str(form["unit"].value() or ""))
    return {
        "form": form,
        "unit_choices": unit_choices_for_admin(user=request.user, keep=chosen),
        "chosen_unit": chosen,
        "role_rows": [(code, label, where_text(code)) for code, label in Role.choices],
        "kinds": OrgUnit.Kind.choices,
        **extra,
    }


def staff_edit_context(
    request,
    person,
    *,
    form: StaffEditForm | None = None,
    reset_form: PasswordResetForm | None = None,
    otp_form: SecondFactorResetForm | None = None,
) -> dict:
    """The account page: the account form, and beside it the password and second factor resets
    (each form given is one sent back with its errors)."""
    return _form_context(
        request,
        form or StaffEditForm(admin=request.user, user=person),
        creating=False,
        person=person,
        is_self=person.pk == request.user.pk,
        reset_form=reset_form or PasswordResetForm(user=person),
        otp_form=otp_form or SecondFactorResetForm(),
        otp_enrolled=second_factor.is_enrolled(person),
        otp_codes_left=second_factor.recovery_codes_left(person),
    )


@admin_page
def staff_create_view(request):
    form = StaffCreateForm(request.POST or None, admin=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.staff_create(
                actor=request.user,
                username=data["username"],
                password=data["password"],
                display_name=data["display_name"],
                phone=data["phone"],
                unit=data["unit"],
                roles=data["roles"],
                must_change_password=True,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                _("已创建账号“%(username)s”（%(name)s）。请把用户名和初始密码交给本人，首次登录时须修改密码。")
                % {"username": user.username, "name": user.display_name},
            )
            return redirect("accounts:staff_edit", user_id=user.pk)
    return render(request, "accounts/staff_form.html", _form_context(request, form, creating=True))


@admin_page
def staff_edit_view(request, user_id: int):
    person = staff_get_for_admin(user=request.user, user_id=user_id)
    form = StaffEditForm(request.POST or None, admin=request.user, user=person)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            changed = services.staff_update(
                actor=request.user,
                user_id=person.pk,
                display_name=data["display_name"],
                phone=data["phone"],
                unit=data["unit"],
                roles=data["roles"],
                is_active=data["is_active"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if changed:
                messages.success(request, _("已保存对账号“%(username)s”的修改。") % {"username": person.username})
            else:
                messages.info(request, _("没有需要保存的修改。"))
            return redirect("accounts:staff_edit", user_id=person.pk)
    return render(request, "accounts/staff_form.html", staff_edit_context(request, person, form=form))


@admin_page
@require_POST
def staff_password_reset_view(request, user_id: int):
    person = staff_get_for_admin(user=request.user, user_id=user_id)
    reset_form = PasswordResetForm(request.POST, user=person)
    if reset_form.is_valid():
        try:
            services.staff_password_reset(
                actor=request.user, user_id=person.pk, password=reset_form.cleaned_data["password"]
            )
        except ValidationError as error:
            reset_form.add_error(None, error)
        else:
            messages.success(
                request,
                _("已重置“%(username)s”的密码。请把新的初始密码交给本人，下次登录时须修改密码。")
                % {"username": person.username},
            )
            return redirect("accounts:staff_edit", user_id=person.pk)
    return render(request, "accounts/staff_form.html", staff_edit_context(request, person, reset_form=reset_form))


@admin_page
def unit_options_view(request):
    """The unit picker's options for what was typed (HTMX)."""
    kind = request.GET.get("unit_kind", "")
    units = unit_choices_for_admin(
        user=request.user,
        query=request.GET.get("unit_q", ""),
        kind=kind if kind in OrgUnit.Kind.values else "",
        keep=_int(request.GET.get("unit", "")),
    )
    return render(
        request,
        "accounts/staff_form.html#unit_options",
        {"unit_choices": units, "chosen_unit": _int(request.GET.get("unit", ""))},
    )


@admin_page
def unit_list_view(request):
    filters = {k: request.GET.get(k, "").strip() for k in ("q", "kind", "staffed")}
    qs = unit_list_for_admin(
        user=request.user,
        query=filters["q"],
        kind=filters["kind"] if filters["kind"] in OrgUnit.Kind.values else "",
        staffed=filters["staffed"] == "1",
    )
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    counts = unit_staff_counts(page.object_list)
    for unit in page.object_list:
        unit.active_staff, unit.inactive_staff = counts.get(unit.pk, (0, 0))
    context = {
        "page": page,
        "filters": filters,
        "query": _query_without_page(request),
        "kinds": OrgUnit.Kind.choices,
    }
    if request.headers.get("HX-Request"):
        return render(request, "accounts/unit_list.html#rows", context)
    return render(request, "accounts/unit_list.html", context)
