from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "ejia.registry"
    label = "registry"
