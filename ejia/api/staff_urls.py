from django.urls import path

from ejia.api import staff_views

app_name = "dci"

urlpatterns = [
    path("deliveries/failed/", staff_views.dci_failed_view, name="failed"),
    path("deliveries/<int:delivery_id>/retry/", staff_views.dci_retry_view, name="retry"),
]
