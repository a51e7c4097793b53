from django.apps import AppConfig


class DisbursementConfig(AppConfig):
    name = "ejia.disbursement"
    label = "disbursement"

    def ready(self) -> None:
        from ejia.core.outbox import register_templates
        from ejia.disbursement.messages import DEFAULT_TEMPLATES

        register_templates(DEFAULT_TEMPLATES)
        from ejia.accounts.work import register as register_work
        from ejia.disbursement.work import household_payments_panel, payment_work
        from ejia.registry.panels import register as register_panel

        register_panel(household_payments_panel)
        register_work(payment_work)
        from ejia.cases.workflow.services import on_approval
        from ejia.disbursement.services import entitlement_on_approval

        on_approval(entitlement_on_approval)
        from ejia.disbursement.tasks import snapshot_committed_receiver
        from ejia.disbursement.work import dynamic_panel, dynamic_work
        from ejia.verification.signals import snapshot_committed

        register_panel(dynamic_panel)
        register_work(dynamic_work)
        snapshot_committed.connect(snapshot_committed_receiver, dispatch_uid="disbursement.alerts")
