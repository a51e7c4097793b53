from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "ejia.api"
    label = "api"
    verbose_name = "开放接口"

    def ready(self) -> None:
        from ejia.accounts.work import register as register_work
        from ejia.api.work import dci_work

        register_work(dci_work)

        # What may change who a remembered credential is (ejia.api.credentials): forget them all.
        from django.db.models.signals import post_delete, post_save

        from ejia.accounts.models import OrgUnit, StaffRole, User
        from ejia.api import credentials
        from ejia.api.models import ApiClient, AppSession

        for model in (ApiClient, AppSession, User, StaffRole, OrgUnit):
            for signal in (post_save, post_delete):
                signal.connect(
                    credentials.forget, sender=model, dispatch_uid=f"api-credentials-{model.__name__}-{id(signal)}"
                )
