from django.urls import path

from ejia.dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("<str:area_code>/", views.area, name="area"),
]
