import pytest

from ejia.core.money import InvalidAmount, format_fen, round_to_yuan, yuan_to_fen


def test_fen_is_formatted_with_symbol_and_thousands():
    assert format_fen(123456) == "¥1,234.56"
    assert format_fen(-5) == "-¥0.05"
    assert format_fen(None) == "—"


@pytest.mark.parametrize(("text", "fen"), [("1,234.5", 123450), ("789元", 78900), ("¥0.01", 1), ("  12 ", 1200)])
def test_yuan_text_becomes_fen(text, fen):
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize("text", ["abc", "1.234", "NaN", "Infinity", ""])
def test_bad_amounts_are_refused(text):
    with pytest.raises(InvalidAmount):
        yuan_to_fen(text)


def test_rounding_to_whole_yuan_is_half_up():
    assert round_to_yuan(78949) == 78900
    assert round_to_yuan(78950) == 79000
