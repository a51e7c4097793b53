from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "ejia.dashboards"
    label = "dashboards"

    def ready(self) -> None:
        from ejia.accounts.work import register, register_actions
        from ejia.dashboards.work import dashboard_actions, dashboard_work

        register_actions(dashboard_actions)
        register(dashboard_work)
