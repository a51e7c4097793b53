"""A staff member whose password an administrator chose changes it before anything else."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

STAFF_PREFIX = "/staff/"
# What such a person may still open: the change-password page itself and the way out.
ALLOWED = ("accounts:password_change", "accounts:logout", "accounts:login")


class PasswordChangeRequiredMiddleware:
    """Placed after AuthenticationMiddleware. Every staff page answers a person with
    `must_change_password` with the change-password page, coming back afterwards to where
    they were going."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(STAFF_PREFIX) and self._must_change(request):
            return self._to_change_page(request)
        return self.get_response(request)

    @staticmethod
    def _must_change(request) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not getattr(user, "must_change_password", False):
            return False
        return request.path not in {reverse(name) for name in ALLOWED}

    @staticmethod
    def _to_change_page(request):
        from ejia.accounts.views import password_change_url

        next_url = request.get_full_path() if request.method == "GET" else ""
        url = password_change_url(next_url)
        if request.headers.get("HX-Request"):
            # htmx would swap the whole page into a fragment: ask it to load the page instead.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return redirect(url)
