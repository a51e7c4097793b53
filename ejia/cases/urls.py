from django.urls import path

from ejia.cases import intake_views, outbox_views, verify_views, views

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
    path("intake/done/<uuid:public_id>/", intake_views.intake_done, name="intake_done"),
    path("intake/done/<uuid:public_id>/receipt.pdf", intake_views.intake_done_receipt, name="intake_done_receipt"),
    path("outbox/", outbox_views.outbox_view, name="outbox"),
    path("outbox/<uuid:public_id>/retry/", outbox_views.outbox_retry_view, name="outbox_retry"),
    path("id-reader/mock/", views.id_reader_mock_view, name="id_reader_mock"),
    path("<uuid:public_id>/", views.case_detail_view, name="case_detail"),
    path("<uuid:public_id>/receipt.pdf", views.case_receipt_view, name="case_receipt"),
    path("<uuid:public_id>/authorisations/<uuid:auth_id>/", views.authorisation_image_view, name="authorisation_image"),
    path("<uuid:public_id>/verification/", verify_views.verification_view, name="verification"),
    path("<uuid:public_id>/verification/start/", verify_views.verification_start_view, name="verification_start"),
    path("<uuid:public_id>/verification/panel/", verify_views.verification_panel_view, name="verification_panel"),
    path(
        "<uuid:public_id>/verification/sources/<int:pk>/rerun/",
        verify_views.verification_rerun_view,
        name="verification_rerun",
    ),
    path("<uuid:public_id>/verification/report.pdf", verify_views.verification_pdf_view, name="verification_pdf"),
]
