from django.apps import AppConfig


class DisbursementConfig(AppConfig):
    name = "ejia.disbursement"
    label = "disbursement"

    def ready(self) -> None:
        from ejia.disbursement.work import household_payments_panel
        from ejia.registry.panels import register as register_panel

        register_panel(household_payments_panel)
