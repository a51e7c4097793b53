from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "ejia.cases"
    label = "cases"

    def ready(self) -> None:
        from ejia.accounts.policies import register_own_rule
        from ejia.accounts.work import register
        from ejia.cases.selectors import case_own_q
        from ejia.cases.work import case_work

        register(case_work)
        register_own_rule("cases.Case", case_own_q)
