"""The text the public catalogue searches: words, full pinyin and pinyin initials.

Citizens type “低保”, “dibao” or “db” on a phone; all three should find 最低生活保障. The
text is rebuilt whenever a programme or its published criteria change (services, seed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pypinyin import Style, lazy_pinyin

_HAN = re.compile(r"[\u4e00-\u9fff]+")


def pinyin_forms(text: str) -> list[str]:
    """For each run of Chinese characters: its full pinyin and its initials ("dibao", "db")."""
    forms: list[str] = []
    for run in _HAN.findall(text):
        forms.append("".join(lazy_pinyin(run)))
        forms.append("".join(lazy_pinyin(run, style=Style.FIRST_LETTER)))
    return forms


def search_text_for(programme, criteria_labels: Iterable[str] = ()) -> str:
    words = [
        programme.code,
        programme.name,
        programme.summary,
        programme.description,
        programme.how_much,
        programme.keywords,
        *(programme.target_groups or []),
        *(programme.unchecked_conditions or []),
        *criteria_labels,
    ]
    # Pinyin of the short, distinctive words only: the name, keywords and target groups.
    pinyin_of = " ".join([programme.name, programme.keywords, *(programme.target_groups or [])])
    return " ".join([*words, *pinyin_forms(pinyin_of)]).lower()
