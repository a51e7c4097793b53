from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ejia.accounts"
    label = "accounts"
