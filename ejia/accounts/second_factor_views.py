"""The second factor pages: enrol (QR code) or type a code after the password; the recovery
codes shown once; the system administrator's reset (ejia/accounts/second_factor.py)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from ejia.accounts import second_factor, throttle
from ejia.accounts.admin_views import admin_page, staff_edit_context
from ejia.accounts.forms import SecondFactorCodeForm, SecondFactorResetForm
from ejia.accounts.policies import SIGNED_IN, staff_view
from ejia.accounts.selectors import staff_get_for_admin
from ejia.accounts.views import _safe_next, password_change_url

# The secret an enrolment page showed, until the person confirms it with a code (never in the
# database before that, so a page left open writes nothing).
PENDING_KEY = "ejia_otp_pending"
# The recovery codes of a fresh enrolment, shown on the next page once and then gone.
CODES_KEY = "ejia_otp_codes"


def _after_verification(request, target: str):
    if request.user.must_change_password:
        return redirect(password_change_url(target))
    return redirect(target or "accounts:home")


@staff_view(SIGNED_IN, cache=False)
def second_factor_view(request):
    user = request.user
    target = _safe_next(request)
    if user.is_verified():
        if request.method == "POST":
            # A double post of a code that already passed: nothing more to check.
            return _after_verification(request, target)
        return render(
            request,
            "accounts/second_factor.html",
            {"mode": "verified", "codes_left": second_factor.recovery_codes_left(user), "next": target},
        )
    form = SecondFactorCodeForm(request.POST or None)
    ip = throttle.client_ip(request)
    if second_factor.is_enrolled(user):
        request.session.pop(PENDING_KEY, None)
        if request.method == "POST" and form.is_valid():
            try:
                device = second_factor.second_factor_verify(user_id=user.pk, code=form.cleaned_data["code"], ip=ip)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                otp_login(request, device)
                request.session.cycle_key()
                if device.persistent_id.startswith("otp_static."):
                    messages.warning(
                        request,
                        _("您使用了一个恢复码，还剩%(n)s个。手机找回或更换后，请联系系统管理员重置双因素认证。")
                        % {"n": second_factor.recovery_codes_left(user)},
                    )
                return _after_verification(request, target)
        return render(request, "accounts/second_factor.html", {"mode": "verify", "form": form, "next": target})

    key_hex = request.session.get(PENDING_KEY) or second_factor.new_secret()
    request.session[PENDING_KEY] = key_hex
    if request.method == "POST" and form.is_valid():
        try:
            enrolment = second_factor.second_factor_enrol(
                user_id=user.pk, key_hex=key_hex, code=form.cleaned_data["code"], ip=ip
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            otp_login(request, enrolment.device)
            request.session.cycle_key()
            request.session.pop(PENDING_KEY, None)
            request.session[CODES_KEY] = enrolment.recovery_codes
            url = reverse("accounts:second_factor_codes")
            return redirect(f"{url}?{urlencode({'next': target})}" if target else url)
    return render(
        request,
        "accounts/second_factor.html",
        {
            "mode": "enrol",
            "form": form,
            "next": target,
            "qr_svg": second_factor.qr_svg(second_factor.provisioning_uri(user, key_hex)),
            "secret": second_factor.secret_text(key_hex),
        },
    )


@staff_view(SIGNED_IN, cache=False)
def second_factor_codes_view(request):
    """The ten recovery codes of a fresh enrolment, once: a reload shows that they are gone."""
    codes = request.session.pop(CODES_KEY, None)
    return render(
        request,
        "accounts/second_factor_codes.html",
        {"codes": codes, "next": _safe_next(request), "must_change": request.user.must_change_password},
    )


@admin_page
@require_POST
def staff_second_factor_reset_view(request, user_id: int):
    person = staff_get_for_admin(user=request.user, user_id=user_id)
    form = SecondFactorResetForm(request.POST)
    if form.is_valid():
        try:
            second_factor.second_factor_reset(actor=request.user, user_id=person.pk, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            # Nothing to reset, or one's own account: said on the account page itself.
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                _("已重置“%(username)s”的双因素认证。本人下次登录时须重新扫码绑定身份验证器。")
                % {"username": person.username},
            )
        return redirect("accounts:staff_edit", user_id=person.pk)
    return render(request, "accounts/staff_form.html", staff_edit_context(request, person, otp_form=form))
