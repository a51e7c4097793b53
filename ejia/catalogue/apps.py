from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "ejia.catalogue"
    label = "catalogue"
