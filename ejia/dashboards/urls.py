from django.urls import path

from ejia.dashboards import download_views, views

app_name = "dashboards"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("<str:area_code>/", views.area, name="area"),
    path("<str:area_code>/export/<str:filename>", download_views.export, name="export"),
    path("<str:area_code>/report.pdf", download_views.report, name="report"),
]
