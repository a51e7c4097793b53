from django.urls import path

from ejia.discovery import views

app_name = "discovery"

urlpatterns = [
    path("", views.lead_list, name="leads"),
    path("scan/", views.scan_now, name="scan"),
    path("visits/", views.visits, name="visits"),
    path("report/", views.report, name="report"),
    path("<uuid:public_id>/", views.lead_detail, name="lead"),
    path("<uuid:public_id>/assign/", views.lead_assign_view, name="assign"),
    path("<uuid:public_id>/outcome/", views.lead_outcome, name="outcome"),
]
