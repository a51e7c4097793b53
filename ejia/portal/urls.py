from django.urls import path

from ejia.portal import selfcheck_views, views

app_name = "portal"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("programmes/", views.catalogue_view, name="catalogue"),
    path("programmes/<slug:code>/", views.programme_view, name="programme"),
    path("county/", views.county_view, name="county"),
    path("elder/", views.elder_view, name="elder"),
    path("check/", selfcheck_views.selfcheck_start_view, name="selfcheck_start"),
    path("check/q/<slug:slug>/", selfcheck_views.selfcheck_question_view, name="selfcheck_question"),
    path("check/answers/", selfcheck_views.selfcheck_answers_view, name="selfcheck_answers"),
    path("check/results/", selfcheck_views.selfcheck_results_view, name="selfcheck_results"),
    path("check/apply/", selfcheck_views.selfcheck_apply_view, name="selfcheck_apply"),
    path("check/clear/", selfcheck_views.selfcheck_clear_view, name="selfcheck_clear"),
]
