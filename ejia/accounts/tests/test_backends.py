from django.contrib.auth import get_user

from ejia.accounts.backends import StaffBackend


def test_the_signed_in_user_comes_with_unit_and_division(bob, erin, django_assert_num_queries):
    """The access policy reads them on every page: no query of their own."""
    user = StaffBackend().get_user(bob.pk)
    approver = StaffBackend().get_user(erin.pk)
    with django_assert_num_queries(0):
        assert user.unit.division.code == "371602001"
        assert approver.unit.department.code == "yb"


def test_a_deactivated_or_unknown_user_is_nobody(bob):
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    assert StaffBackend().get_user(bob.pk) is None
    assert StaffBackend().get_user(10**9) is None


def test_a_session_signs_in_through_it(bob, client, rf):
    client.force_login(bob)
    request = rf.get("/")
    request.session = client.session
    assert get_user(request) == bob
