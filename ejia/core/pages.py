"""Staff page decorators shared by the apps' views."""

from __future__ import annotations

import functools

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.views.decorators.cache import never_cache


def staff_page(forbidden_template: str, *, cache: bool = True):
    """Login required; a refusal (PermissionDenied from a selector or scope check) renders
    `forbidden_template` with the Chinese reason as `message`, status 403, rather than the
    bare default. `cache=False` adds never_cache (pages with personal data that refresh)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except PermissionDenied as exc:
                return render(request, forbidden_template, {"message": str(exc)}, status=403)

        wrapped = login_required(wrapped if cache else never_cache(wrapped))
        return wrapped

    return decorate
