"""Guards in front of every staff page, in the order they run (config/settings.py):

1. `SecondFactorRequiredMiddleware`: a session that passed the password only sees the second
   factor page (enrol or type a code) until it passes that too;
2. `PasswordChangeRequiredMiddleware`: a staff member whose password an administrator chose
   changes it before anything else.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

STAFF_PREFIX = "/staff/"
# What a person who has not passed the second factor may open: that page and the way out.
SECOND_FACTOR_ALLOWED = ("accounts:second_factor", "accounts:second_factor_codes", "accounts:logout", "accounts:login")
# What a person who must change their password may still open: the change-password page, the
# second factor (which comes first) and the way out.
ALLOWED = ("accounts:password_change", *SECOND_FACTOR_ALLOWED)


def _go(request, url: str):
    if request.headers.get("HX-Request"):
        # htmx would swap the whole page into a fragment: ask it to load the page instead.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


class SecondFactorRequiredMiddleware:
    """Placed after django-otp's OTPMiddleware. With EJIA_STAFF_SECOND_FACTOR on, every staff
    page answers a signed-in person whose session has not passed the second factor with the
    second factor page, coming back afterwards to where they were going."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.EJIA_STAFF_SECOND_FACTOR and request.path.startswith(STAFF_PREFIX) and self._must_verify(request):
            from ejia.accounts.views import second_factor_url

            return _go(request, second_factor_url(request.get_full_path() if request.method == "GET" else ""))
        return self.get_response(request)

    @staticmethod
    def _must_verify(request) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_verified():
            return False
        return request.path not in {reverse(name) for name in SECOND_FACTOR_ALLOWED}


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
        return _go(request, password_change_url(next_url))
