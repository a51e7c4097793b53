from django.urls import path

from ejia.cases.workflow import views

app_name = "workflow"

urlpatterns = [
    path("", views.queue, name="queue"),
]
