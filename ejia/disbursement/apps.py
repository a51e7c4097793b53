from django.apps import AppConfig


class DisbursementConfig(AppConfig):
    name = "ejia.disbursement"
    label = "disbursement"

    def ready(self) -> None:
        from ejia.accounts.work import register as register_work
        from ejia.disbursement.work import household_payments_panel, payment_work
        from ejia.registry.panels import register as register_panel

        register_panel(household_payments_panel)
        register_work(payment_work)
