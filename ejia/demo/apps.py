from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "ejia.demo"
    label = "demo"
