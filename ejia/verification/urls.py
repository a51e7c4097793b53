from django.urls import path

from ejia.verification import views

app_name = "verification"

urlpatterns = [
    path("", views.source_list_view, name="sources"),
    path("sources/<slug:code>/upload/", views.upload_view, name="upload"),
    path("snapshots/<uuid:public_id>/", views.snapshot_view, name="snapshot"),
    path("snapshots/<uuid:public_id>/commit/", views.snapshot_commit_view, name="commit"),
    path("snapshots/<uuid:public_id>/rejected.<str:fmt>", views.rejected_download_view, name="rejected"),
]

from ejia.verification import review_views  # noqa: E402

urlpatterns += [
    path("reviews/", review_views.review_list_view, name="reviews"),
    path("reviews/start/", review_views.review_start_view, name="review_start"),
    path("reviews/<uuid:public_id>/", review_views.review_batch_view, name="review_batch"),
]
