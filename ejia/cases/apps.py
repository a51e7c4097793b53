from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "ejia.cases"
    label = "cases"
