from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language

from ejia.accounts.policies import public_view
from ejia.core import probes

urlpatterns = [
    # The language switcher is for everyone (citizens and staff).
    path("i18n/setlang/", public_view(set_language), name="set_language"),
    # The load balancer's probes (ejia/core/probes.py): process alive; database ready.
    path("healthz", probes.healthz, name="healthz"),
    path("readyz", probes.readyz, name="readyz"),
    # Django's model admin only where it is wanted (production default: off), and then only for
    # superusers past the second factor (ejia/accounts/admin_site.py).
    *([path("admin/", admin.site.urls)] if settings.EJIA_ADMIN_ENABLED else []),
    path("staff/", include("ejia.accounts.urls")),
    path("staff/catalogue/", include("ejia.catalogue.urls")),
    path("staff/registry/", include("ejia.registry.urls")),
    path("staff/cases/", include("ejia.cases.urls")),
    path("staff/work/", include("ejia.cases.workflow.urls")),
    path("staff/exchange/", include("ejia.verification.urls")),
    path("staff/pay/", include("ejia.disbursement.urls")),
    path("staff/discovery/", include("ejia.discovery.urls")),
    path("staff/dashboards/", include("ejia.dashboards.urls")),
    path("staff/dci/", include("ejia.api.staff_urls")),
    # The open API (/api/v1/, docs/api.md) and its public keys (/.well-known/jwks.json).
    path("", include("ejia.api.urls")),
    path("", include("ejia.portal.urls")),
    # Citizens apply and track at the site root (/apply/, /track/): the receipt's QR code points here.
    path("", include("ejia.cases.citizen_urls")),
]
# Uploaded files (MEDIA_ROOT) are never served by URL, not even in DEBUG: they are personal data,
# sealed at rest, and reach a browser only through views that check the user's scope.

# One branded page for refusals and errors (ejia.core.errors), also for what never reaches a view.
handler403 = "ejia.core.errors.handler403"
handler404 = "ejia.core.errors.handler404"
handler500 = "ejia.core.errors.handler500"
