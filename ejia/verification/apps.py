from django.apps import AppConfig


class VerificationConfig(AppConfig):
    name = "ejia.verification"
    label = "verification"
