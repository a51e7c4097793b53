from django.apps import AppConfig


class DiscoveryConfig(AppConfig):
    name = "ejia.discovery"
    label = "discovery"

    def ready(self) -> None:
        from django.db.models import Q

        from ejia.accounts.policies import register_own_rule
        from ejia.accounts.work import register, register_actions
        from ejia.discovery.work import discovery_actions, discovery_work

        # A grid worker's own leads: those assigned to them and those they reported.
        register_own_rule("discovery.lead", lambda user: Q(assigned_to=user) | Q(reported_by=user))
        register_actions(discovery_actions)
        register(discovery_work)
