import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from ejia.accounts import services, throttle
from ejia.accounts.forms import LoginForm, PasswordChangeForm
from ejia.accounts.policies import (
    PURPOSE_SALT,
    PURPOSE_SECONDS,
    PURPOSE_SESSION_KEY,
    SIGNED_IN,
    Capability,
    Reach,
    public_view,
    reach,
    staff_view,
)
from ejia.accounts.selectors import home_summary
from ejia.accounts.sessions import is_background, session_begin, session_touch
from ejia.accounts.work import actions, work_items
from ejia.core.audit import audit_record


@public_view
@never_cache
@csrf_protect
def login_view(request):
    form = LoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        login(request, form.user)
        session_begin(request)
        throttle.clear_failures(form.user.username)
        audit_record(actor=form.user, action="staff.login", obj=form.user, data={"ip": throttle.client_ip(request)})
        target = _safe_next(request)
        if settings.EJIA_STAFF_SECOND_FACTOR:
            # The password alone opens nothing: the second factor page comes next.
            return redirect(second_factor_url(target))
        if form.user.must_change_password:
            return redirect(password_change_url(target))
        return redirect(target or "accounts:home")
    return render(request, "accounts/login.html", {"form": form})


def _safe_next(request) -> str:
    """The `next` page if it is on this site, else ""."""
    target = request.POST.get("next") or request.GET.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def password_change_url(next_url: str = "") -> str:
    url = reverse("accounts:password_change")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def login_url(next_url: str = "") -> str:
    url = reverse("accounts:login")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def second_factor_url(next_url: str = "") -> str:
    url = reverse("accounts:second_factor")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


@staff_view(SIGNED_IN, cache=False)
def password_change_view(request):
    """Every staff member changes their own password here; someone whose password was set by
    an administrator is sent here first (`PasswordChangeRequiredMiddleware`)."""
    required = request.user.must_change_password
    form = PasswordChangeForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.staff_password_change(
                user_id=request.user.pk,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password1"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            # Keep this session signed in; other sessions with the old password end.
            update_session_auth_hash(request, user)
            messages.success(request, _("密码已修改。"))
            return redirect(_safe_next(request) or "accounts:home")
    return render(
        request, "accounts/password_change.html", {"form": form, "required": required, "next": _safe_next(request)}
    )


@public_view
@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        audit_record(actor=request.user, action="staff.logout", obj=request.user)
    logout(request)
    return redirect("accounts:login")


@staff_view(SIGNED_IN)
def home_view(request):
    return render(
        request,
        "accounts/home.html",
        {
            "summary": home_summary(user=request.user),
            "work_items": work_items(request.user),
            "actions": actions(request.user),
        },
    )


@staff_view(SIGNED_IN, cache=False)
def session_view(request):
    """The session clock (static/ejia/session.js): GET, sent as background, says how long the
    session has left; POST ("继续工作") counts as work and starts the idle time again."""
    if request.method == "POST":
        clock = session_touch(request)
    elif request.method == "GET" and is_background(request):
        clock = request.staff_session
    else:
        return HttpResponseNotAllowed(["POST", "GET"])
    return JsonResponse({"idle_left": clock.idle_left, "absolute_left": clock.absolute_left})


@staff_view(Capability.CASE_READ)
@require_POST
def purpose_view(request):
    """The auditor states why they open a file (the access policy's PURPOSE reach): recorded
    in the audit log and remembered for this file in this session for 30 minutes."""
    if reach(request.user, Capability.CASE_READ) != Reach.PURPOSE:
        raise PermissionDenied("您的岗位查阅申请件无需另行说明目的。")
    try:
        token = signing.loads(request.POST.get("token", ""), salt=PURPOSE_SALT, max_age=3600)
    except signing.BadSignature:
        raise PermissionDenied("查阅请求已失效，请重新打开要查阅的页面。") from None
    purpose = " ".join(request.POST.get("purpose", "").split())
    target = token["next"]
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "accounts:home"
    if not 4 <= len(purpose) <= 300:
        from django.contrib import messages

        messages.error(request, "请用4至300字说明查阅目的。")
        return redirect(target)
    object_type, _, object_id = token["key"].partition(":")
    audit_record(
        actor=request.user,
        action="access.purpose_stated",
        object_type=object_type,
        object_id=object_id,
        reason=purpose,
        data={"next": target},
    )
    purposes = request.session.get(PURPOSE_SESSION_KEY, {})
    purposes[token["key"]] = {"purpose": purpose, "until": time.time() + PURPOSE_SECONDS}
    request.session[PURPOSE_SESSION_KEY] = purposes
    return redirect(target)
