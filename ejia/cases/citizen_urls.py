from django.urls import path

from ejia.cases import citizen_views

app_name = "citizen"

urlpatterns = [
    path("track/", citizen_views.track_view, name="track"),
    path("track/login/", citizen_views.login_view, name="login"),
    path("track/mine/", citizen_views.mine_view, name="mine"),
    path("track/logout/", citizen_views.logout_view, name="logout"),
]
