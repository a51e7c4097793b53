from django.urls import path

from ejia.cases import intake_views, views

app_name = "cases"

urlpatterns = [
    path("", views.case_queue_view, name="queue"),
    path("intake/", intake_views.intake_start, name="intake_start"),
    path("intake/discard/", intake_views.intake_discard, name="intake_discard"),
    path("intake/household/", intake_views.intake_household, name="intake_household"),
    path("intake/needs/", intake_views.intake_needs, name="intake_needs"),
    path("intake/plan/", intake_views.intake_plan, name="intake_plan"),
    path("intake/authorise/", intake_views.intake_authorise, name="intake_authorise"),
    path("intake/materials/", intake_views.intake_materials, name="intake_materials"),
    path("intake/submit/", intake_views.intake_submit, name="intake_submit"),
    path("id-reader/mock/", views.id_reader_mock_view, name="id_reader_mock"),
    path("<uuid:public_id>/", views.case_detail_view, name="case_detail"),
    path("<uuid:public_id>/receipt.pdf", views.case_receipt_view, name="case_receipt"),
    path("<uuid:public_id>/authorisations/<uuid:auth_id>/", views.authorisation_image_view, name="authorisation_image"),
]
