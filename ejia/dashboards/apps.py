from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "ejia.dashboards"
    label = "dashboards"
