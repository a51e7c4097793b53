from ejia.accounts.policies import Capability, allows


class CapabilitySet:
    """`{% if caps.case_read %}` in templates: the navigation and buttons ask the same policy
    as the views, so nobody is shown a link that would be refused."""

    def __init__(self, user):
        self._user = user
        self._cache: dict[str, bool] = {}

    def __getattr__(self, name: str) -> bool:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._cache:
            self._cache[name] = allows(self._user, Capability(name))
        return self._cache[name]

    def __contains__(self, name: str) -> bool:
        return getattr(self, name)


def capabilities(request):
    return {"caps": CapabilitySet(getattr(request, "user", None))}
