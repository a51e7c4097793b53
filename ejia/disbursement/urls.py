from django.urls import path

from ejia.disbursement import dynamic_views, views

app_name = "disbursement"

urlpatterns = [
    path("", views.batch_list_view, name="batch_list"),
    path("batches/<uuid:public_id>/", views.batch_detail_view, name="batch_detail"),
    path("batches/<uuid:public_id>/release/", views.batch_release_view, name="batch_release"),
    path("batches/<uuid:public_id>/bank-file.<str:fmt>", views.batch_download_view, name="batch_download"),
    path("batches/<uuid:public_id>/return/", views.batch_return_view, name="batch_return"),
    path("batches/<uuid:public_id>/reconcile/", views.batch_reconcile_view, name="batch_reconcile"),
    path("batches/<uuid:public_id>/resume/", views.batch_resume_view, name="batch_resume"),
    path("batches/<uuid:public_id>/recheck/", views.batch_recheck_view, name="batch_recheck"),
    path("batches/<uuid:public_id>/lines/<str:line_ref>/accept/", views.line_accept_view, name="line_accept"),
    path("batches/<uuid:public_id>/lines/<str:line_ref>/reissue/", views.line_reissue_view, name="line_reissue"),
    path("held/", views.held_view, name="held"),
    path("held/decisions/<int:decision_id>/member/", views.held_decision_member_view, name="held_decision_member"),
    path("households/<uuid:household_id>/account/", views.household_account_view, name="household_account"),
    path("entitlements/<uuid:public_id>/", views.entitlement_view, name="entitlement"),
    path("reviews/", dynamic_views.reviews_due_view, name="reviews_due"),
    path("reviews/<uuid:public_id>/", dynamic_views.review_complete_view, name="review_complete"),
    path(
        "households/<uuid:household_id>/changes/new/",
        dynamic_views.change_report_new_view,
        name="change_report_new",
    ),
    path("changes/<uuid:public_id>/", dynamic_views.change_report_view, name="change_report"),
    path("alerts/<uuid:public_id>/", dynamic_views.alert_view, name="alert"),
    path("recoveries/<uuid:public_id>/", dynamic_views.recovery_view, name="recovery"),
    path("scans/<uuid:public_id>/rerun/", dynamic_views.scan_rerun_view, name="scan_rerun"),
    path("reverification/<int:flag_id>/", views.reverification_flag_view, name="reverification_flag"),
]
