from django.apps import AppConfig


class DisbursementConfig(AppConfig):
    name = "ejia.disbursement"
    label = "disbursement"

    def ready(self) -> None:
        from ejia.core.outbox import register_templates
        from ejia.disbursement.messages import DEFAULT_TEMPLATES

        register_templates(DEFAULT_TEMPLATES)
