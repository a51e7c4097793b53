from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "ejia.core"
    label = "core"
