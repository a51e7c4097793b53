from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("staff/", include("ejia.accounts.urls")),
    path("staff/catalogue/", include("ejia.catalogue.urls")),
    path("staff/registry/", include("ejia.registry.urls")),
    path("staff/cases/", include("ejia.cases.urls")),
    path("staff/work/", include("ejia.cases.workflow.urls")),
    path("staff/exchange/", include("ejia.verification.urls")),
    path("staff/pay/", include("ejia.disbursement.urls")),
    path("", include("ejia.portal.urls")),
    # Citizens apply and track at the site root (/apply/, /track/): the receipt's QR code points here.
    path("", include("ejia.cases.citizen_urls")),
]
# Uploaded files (MEDIA_ROOT) are never served by URL, not even in DEBUG: they are personal data,
# sealed at rest, and reach a browser only through views that check the user's scope.
