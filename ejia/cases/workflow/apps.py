from django.apps import AppConfig


class WorkflowConfig(AppConfig):
    name = "ejia.cases.workflow"
    label = "workflow"
    verbose_name = "内部流转与审批"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ejia.cases.workflow.notifications import DEFAULT_TEMPLATES
        from ejia.core.outbox import register_templates

        register_templates(DEFAULT_TEMPLATES)
