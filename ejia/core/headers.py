"""Response headers that keep personal data in its place: what a page may load and run
(Content-Security-Policy), which browser features it may use (Permissions-Policy), and that
nothing personal stays in the browser's or a proxy's cache (Cache-Control: no-store).

They are set here, for every response, rather than per view, so that no view can forget them:
township PCs are shared, and the next person at the window must not find the last household's
file in the back button, the disk cache or the history.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.utils.cache import add_never_cache_headers


def permissions_policy_header(features: dict[str, list[str]]) -> str:
    """`{"camera": [], "fullscreen": ["self"]}` → `camera=(), fullscreen=(self)` (the structured
    header syntax: an empty list turns the feature off for every origin)."""
    return ", ".join(f"{name}=({' '.join(allow)})" for name, allow in features.items())


def is_private_request(request) -> bool:
    """A staff member's request (any path, once signed in), or a path that shows or collects
    personal data: the staff pages and their downloads, the admin, the citizens' tracker and
    application behind the phone login, the self-check answers."""
    if request.path_info.startswith(tuple(settings.EJIA_NO_STORE_PATH_PREFIXES)):
        return True
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False  # no session, no staff member: a public page, which caches may keep
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


class PrivacyHeadersMiddleware:
    """Placed near the top of MIDDLEWARE (after WhiteNoise: static files are public), so that
    its response side sees every answer, refusals and redirects included. A view that needs
    another Permissions-Policy sets the header itself; the middleware only fills it in."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.permissions_policy = permissions_policy_header(settings.EJIA_PERMISSIONS_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        if self.permissions_policy:
            response.headers.setdefault("Permissions-Policy", self.permissions_policy)
        if is_private_request(request):
            # max-age=0, no-cache, no-store, must-revalidate, private (and Expires in the past):
            # replaces whatever a view said about caching.
            add_never_cache_headers(response)
        return response


# Files a browser shows in a page it makes up itself (its PDF viewer, its image viewer). That page
# inherits the file's policy, and Chromium's own inline styles are then refused by style-src 'self'
# (the PDF fills a fifth of the tab; the console fills with complaints). These files run no script
# of ours; X-Frame-Options still keeps them out of other sites' frames. SVG is not among them: it
# can carry script, so it keeps the policy.
BROWSER_VIEWER_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/webp", "image/gif")


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, except for the files in BROWSER_VIEWER_TYPES."""

    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith(BROWSER_VIEWER_TYPES):
            response._csp_exempt = True
            response._csp_exempt_ro = True
        return super().process_response(request, response)
