from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "ejia.portal"
    label = "portal"
