from django.urls import path

from ejia.accounts import audit_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("", views.home_view, name="home"),
    path("purpose/", views.purpose_view, name="purpose"),
    path("audit/", audit_views.audit_log_view, name="audit_log"),
    path("audit/verify/", audit_views.audit_verify_view, name="audit_verify"),
]
