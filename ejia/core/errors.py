"""Refusals and errors as one branded page (403, 404, 500), in Chinese unless English was chosen.

Two ways in, one page out:
- `RefusalMiddleware` turns a `PermissionDenied` or `Http404` raised by any view into the page,
  even with DEBUG on (a developer's DEBUG 404 page would show the lookup that failed); the demo
  runs with DEBUG off, so no technical page is reachable there at all;
- `handler403/404/500` in `config.urls` cover what never reaches a view (an unknown URL, CSRF
  refusals, crashes) when DEBUG is off.

A staff path gets the staff navigation, a citizen path the public one. The sentence on the page
is the exception's own message when a service or the access policy gave one.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

STAFF_PREFIX = "/staff/"

DEFAULT_403 = _("您没有访问该页面的权限。")
DEFAULT_404 = _("没有找到您要访问的页面，它可能已被删除，或链接有误。")


def _message(exception, default) -> str:
    args = getattr(exception, "args", ())
    text = str(args[0]) if args and isinstance(args[0], (str, Promise)) else ""
    # Django's own lookups say "No Case matches the given query." (English, internal): only a
    # sentence written for people is shown.
    if not text.strip() or (text.startswith("No ") and text.endswith("matches the given query.")):
        return str(default)
    return text


def _base_template(request) -> str:
    return "staff_base.html" if request.path.startswith(STAFF_PREFIX) else "base.html"


def refusal_page(request, exception=None, *, status: int = 403):
    context = {"base_template": _base_template(request), "status": status}
    token = getattr(exception, "token", None)
    if status == 403 and token:
        # The access policy asks for a stated purpose before this file opens (the auditor).
        context.update(purpose_token=token, what=getattr(exception, "what", ""), message=_message(exception, ""))
        return render(request, "errors/purpose.html", context, status=403)
    if status == 404:
        context["message"] = _message(exception, DEFAULT_404)
        return render(request, "errors/404.html", context, status=404)
    context["message"] = _message(exception, DEFAULT_403)
    return render(request, "errors/403.html", context, status=403)


class RefusalMiddleware:
    """Renders PermissionDenied and Http404 raised in views as the branded page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, PermissionDenied):
            return refusal_page(request, exception, status=403)
        if isinstance(exception, Http404):
            return refusal_page(request, exception, status=404)
        return None


def handler403(request, exception=None):
    return refusal_page(request, exception, status=403)


def handler404(request, exception=None):
    return refusal_page(request, exception, status=404)


def handler500(request):
    # No database, no context processors: whatever broke may be one of them.
    return HttpResponseServerError(loader.get_template("errors/500.html").render({"request_path": request.path}))
