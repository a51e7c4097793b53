"""Chinese unless the user chose otherwise.

The staff and citizen pages are written in Chinese and only partly translated; a browser that
merely prefers English (an English-language laptop at a township window) would get a page in
two languages. So the browser's Accept-Language is not consulted: the language is the one
chosen with the language switcher (Django's language cookie), else LANGUAGE_CODE (zh-hans).
"""

from __future__ import annotations


class ChosenLanguageOnlyMiddleware:
    """Placed before django.middleware.locale.LocaleMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)
