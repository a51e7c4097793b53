"""Django's model admin, for the system's superusers only and behind the staff login: a
superuser whose session has not passed the second factor, or any other staff member, gets no
admin page. Routed at all only when EJIA_ADMIN_ENABLED is on (config/urls.py; production default
off)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode


class StaffAdminSite(AdminSite):
    site_header = "e家大救助 · 系统后台"
    site_title = "e家大救助"

    def has_permission(self, request) -> bool:
        user = request.user
        if not (user.is_active and user.is_superuser):
            return False
        return not settings.EJIA_STAFF_SECOND_FACTOR or user.is_verified()

    def login(self, request, extra_context=None):
        """No password form of its own (it would bypass the staff login's throttle and second
        factor): the staff login, then back here."""
        from ejia.accounts.views import second_factor_url

        next_url = request.GET.get("next") or reverse("admin:index", current_app=self.name)
        user = request.user
        if user.is_authenticated and not user.is_superuser:
            raise PermissionDenied("系统后台只对超级管理员开放。")
        if user.is_authenticated:
            return redirect(second_factor_url(next_url))
        return redirect(f"{reverse('accounts:login')}?{urlencode({'next': next_url})}")


class StaffAdminConfig(AdminConfig):
    default_site = "ejia.accounts.admin_site.StaffAdminSite"
