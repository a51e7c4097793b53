from django.urls import path

from ejia.accounts import admin_views, audit_views, ops_views, second_factor_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("", views.home_view, name="home"),
    path("password/", views.password_change_view, name="password_change"),
    path("second-factor/", second_factor_views.second_factor_view, name="second_factor"),
    path("second-factor/recovery-codes/", second_factor_views.second_factor_codes_view, name="second_factor_codes"),
    path("purpose/", views.purpose_view, name="purpose"),
    path("session/", views.session_view, name="session"),
    path("audit/", audit_views.audit_log_view, name="audit_log"),
    path("audit/access/", audit_views.access_log_view, name="access_log"),
    path("audit/access/seal/", audit_views.access_seal_view, name="access_seal"),
    path("audit/verify/", audit_views.audit_verify_view, name="audit_verify"),
    path("ops/health/", ops_views.ops_health_view, name="ops_health"),
    path("accounts/", admin_views.staff_list_view, name="staff_list"),
    path("accounts/new/", admin_views.staff_create_view, name="staff_create"),
    path("accounts/<int:user_id>/", admin_views.staff_edit_view, name="staff_edit"),
    path("accounts/<int:user_id>/password/", admin_views.staff_password_reset_view, name="staff_password_reset"),
    path(
        "accounts/<int:user_id>/second-factor/reset/",
        second_factor_views.staff_second_factor_reset_view,
        name="staff_second_factor_reset",
    ),
    path("accounts/units/", admin_views.unit_list_view, name="unit_list"),
    path("accounts/units/options/", admin_views.unit_options_view, name="unit_options"),
]
