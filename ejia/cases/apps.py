from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "ejia.cases"
    label = "cases"

    def ready(self) -> None:
        from ejia.accounts.policies import register_own_rule
        from ejia.accounts.work import register, register_actions
        from ejia.cases.selectors import case_own_q
        from ejia.cases.work import case_actions, case_work

        register(case_work)
        register_actions(case_actions)
        register_own_rule("cases.Case", case_own_q)
