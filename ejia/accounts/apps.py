from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ejia.accounts"
    label = "accounts"

    def ready(self) -> None:
        from ejia.accounts.audit_work import ops_health_work, seal_alert_work
        from ejia.accounts.work import register as register_work

        register_work(seal_alert_work)
        register_work(ops_health_work)
