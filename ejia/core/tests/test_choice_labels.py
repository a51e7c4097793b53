"""Choice labels (get_<field>_display) come from a table built once per field and language:
they must still be the label of the value, in the language of the request."""

from django.utils import translation

from ejia.cases.models import Case, CaseStatus, Channel


def test_the_label_is_the_chosen_values_in_the_active_language():
    case = Case(status=CaseStatus.SUBMITTED, channel=Channel.WINDOW)
    with translation.override("zh-hans"):
        assert case.get_status_display() == str(CaseStatus.SUBMITTED.label)
        chinese = case.get_channel_display()
    with translation.override("en"):
        english = case.get_channel_display()
        assert english == str(Channel.WINDOW.label)
    assert chinese != english, "the English label is cached apart from the Chinese one"
    case.status = CaseStatus.WITHDRAWN
    with translation.override("zh-hans"):
        assert case.get_status_display() == str(CaseStatus.WITHDRAWN.label)


def test_a_value_outside_the_choices_shows_as_itself():
    assert Case(status="no-such-status").get_status_display() == "no-such-status"
