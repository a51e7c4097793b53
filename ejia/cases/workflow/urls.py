from django.urls import path

from ejia.cases.workflow import views

app_name = "workflow"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("r/<uuid:public_id>/", views.procedure_detail, name="procedure"),
    path("r/<uuid:public_id>/do/<slug:action>/", views.procedure_act, name="act"),
    path("r/<uuid:public_id>/home-visit/", views.home_visit, name="home_visit"),
    path("r/<uuid:public_id>/photos/<int:photo_id>/", views.home_visit_photo, name="home_visit_photo"),
    path("r/<uuid:public_id>/self-care/", views.self_care, name="self_care"),
    path("r/<uuid:public_id>/appraisal/", views.appraisal, name="appraisal"),
    path("notices/", views.notices, name="notices"),
    path("notices/publish/", views.notice_publish, name="notice_publish"),
    path("notices/<uuid:public_id>/", views.notice_detail, name="notice"),
    path("notices/<uuid:public_id>/pdf/", views.notice_pdf, name="notice_pdf"),
    path("bulk-approve/", views.bulk_approve, name="bulk_approve"),
    path("claim/", views.claim_selected, name="claim"),
    path("case/<uuid:public_id>/", views.joint_review, name="joint_review"),
    path("case/<uuid:public_id>/decision.pdf", views.decision_pdf, name="decision_pdf"),
    path("case/<uuid:public_id>/progress/", views.case_progress, name="case_progress"),
    path("case/<uuid:public_id>/withdraw/", views.case_withdraw, name="case_withdraw"),
]
