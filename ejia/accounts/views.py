from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from ejia.accounts import throttle
from ejia.accounts.forms import LoginForm
from ejia.accounts.selectors import home_summary
from ejia.accounts.work import work_items
from ejia.core.audit import audit_record


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


@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        audit_record(actor=request.user, action="staff.logout", obj=request.user)
    logout(request)
    return redirect("accounts:login")


@login_required
def home_view(request):
    return render(
        request,
        "accounts/home.html",
        {"summary": home_summary(user=request.user), "work_items": work_items(request.user)},
    )
