from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "ejia.api"
    label = "api"
    verbose_name = "开放接口"

    def ready(self) -> None:
        from ejia.accounts.work import register as register_work
        from ejia.api.work import dci_work

        register_work(dci_work)
