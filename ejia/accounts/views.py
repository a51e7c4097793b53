import time

from django.contrib.auth import login, logout
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from ejia.accounts import throttle
from ejia.accounts.forms import LoginForm
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
from ejia.accounts.work import work_items
from ejia.core.audit import audit_record


@public_view
@never_cache
@csrf_protect
def login_view(request):
    form = LoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        login(request, form.user)
        throttle.clear_failures(form.user.username)
        audit_record(actor=form.user, action="staff.login", obj=form.user, data={"ip": throttle.client_ip(request)})
        target = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = "accounts:home"
        return redirect(target)
    return render(request, "accounts/login.html", {"form": form})


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
        {"summary": home_summary(user=request.user), "work_items": work_items(request.user)},
    )


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
