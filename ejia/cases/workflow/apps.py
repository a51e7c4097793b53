from django.apps import AppConfig


class WorkflowConfig(AppConfig):
    name = "ejia.cases.workflow"
    label = "workflow"
    verbose_name = "内部流转与审批"
    default_auto_field = "django.db.models.BigAutoField"
