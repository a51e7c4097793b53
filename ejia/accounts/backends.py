"""The staff sign-in backend: Django's ModelBackend, with the signed-in user read together
with the unit and its division.

Every staff page asks the access policy, and the policy starts from the user's unit and its
division (`ejia.accounts.scope`); read with the user, they cost the request no queries of
their own (two fewer on every page)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class StaffBackend(ModelBackend):
    def get_user(self, user_id):
        users = get_user_model()._default_manager.select_related("unit__division", "unit__department")
        user = users.filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
