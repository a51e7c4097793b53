from django.urls import path

from ejia.registry import views

app_name = "registry"

urlpatterns = [
    path("households/", views.household_search_view, name="household_search"),
    path("households/<uuid:public_id>/", views.household_detail_view, name="household_detail"),
    path("persons/<uuid:public_id>/reveal/", views.person_reveal_view, name="person_reveal"),
]
