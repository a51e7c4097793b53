from django.urls import path

from ejia.catalogue import views

app_name = "catalogue"

urlpatterns = [
    path("", views.programme_list_view, name="list"),
    path("<slug:code>/", views.programme_edit_view, name="edit"),
    path("<slug:code>/check/", views.rules_check_view, name="check"),
    path("<slug:code>/combinations/check/", views.combinations_check_view, name="combinations_check"),
    path("<slug:code>/history/", views.programme_history_view, name="history"),
    path("<slug:code>/whatif/", views.whatif_start_view, name="whatif_start"),
    path("<slug:code>/whatif/<uuid:public_id>/", views.whatif_view, name="whatif"),
]
