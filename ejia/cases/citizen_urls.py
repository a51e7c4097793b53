from django.urls import path

from ejia.cases import citizen_apply, citizen_views

app_name = "citizen"

urlpatterns = [
    path("track/", citizen_views.track_view, name="track"),
    path("track/login/", citizen_views.login_view, name="login"),
    path("track/mine/", citizen_views.mine_view, name="mine"),
    path("track/mine/<uuid:public_id>/withdraw/", citizen_views.withdraw_view, name="withdraw"),
    path("track/logout/", citizen_views.logout_view, name="logout"),
    path("apply/", citizen_apply.apply_start, name="apply"),
    path("apply/place/", citizen_apply.apply_place, name="apply_place"),
    path("apply/members/", citizen_apply.apply_members, name="apply_members"),
    path("apply/needs/", citizen_apply.apply_needs, name="apply_needs"),
    path("apply/programmes/", citizen_apply.apply_programmes, name="apply_programmes"),
    path("apply/sign/", citizen_apply.apply_sign, name="apply_sign"),
    path("apply/check/", citizen_apply.apply_check, name="apply_check"),
]
