from django.apps import AppConfig


class DisbursementConfig(AppConfig):
    name = "ejia.disbursement"
    label = "disbursement"
