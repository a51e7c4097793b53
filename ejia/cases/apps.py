from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "ejia.cases"
    label = "cases"

    def ready(self) -> None:
        from ejia.accounts.work import register
        from ejia.cases.work import case_work

        register(case_work)
