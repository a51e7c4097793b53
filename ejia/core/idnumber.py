"""Resident ID numbers (公民身份号码, GB 11643-1999).

18 characters: 6-digit address code (GB/T 2260 county of registration), 8-digit birth date,
3-digit sequence (odd = male, even = female), 1 check character (ISO 7064 MOD 11-2).
15-digit legacy numbers (2-digit year, no check character) are upgraded to 18.

Address codes stay as issued after a county is renamed or recoded, so only the shape of
the address code is checked (a real province prefix, not all zeros), never a current list.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"

# GB/T 2260 province-level prefixes (incl. 71 Taiwan, 81/82 Hong Kong/Macao, 83 for
# residence permits of Taiwan residents).
PROVINCE_PREFIXES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
        "83",
    ]
)
EARLIEST_BIRTH = dt.date(1850, 1, 1)


class InvalidIdNumber(ValueError):
    """An ID number that fails validation; `message` is Chinese and shown to the user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class IdNumber:
    number: str  # normalised 18 characters, upper-case X
    region_code: str
    birth_date: dt.date
    sequence: int
    upgraded_from: str | None = None

    @property
    def sex(self) -> str:
        """'M' or 'F' from the parity of the sequence code."""
        return "M" if self.sequence % 2 == 1 else "F"

    @property
    def masked(self) -> str:
        return mask(self.number)

    def age_on(self, day: dt.date) -> int:
        return age_on(self.birth_date, day)

    def __str__(self) -> str:
        return self.number


def check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Exact age in whole years; a birthday falling on `day` counts. 29 February birthdays
    are reached on 1 March in non-leap years."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def _parse_birth(text: str) -> dt.date:
    try:
        born = dt.date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise InvalidIdNumber("birth_date", f"出生日期“{text}”不是有效日期。") from None
    return born


def parse(raw: str, *, today: dt.date | None = None) -> IdNumber:
    """Validate and normalise an ID number; raise InvalidIdNumber with a Chinese message."""
    if raw is None:
        raise InvalidIdNumber("empty", "请输入身份证号码。")
    text = re.sub(r"\s+", "", str(raw)).upper()
    if not text:
        raise InvalidIdNumber("empty", "请输入身份证号码。")
    today = today or dt.date.today()
    upgraded_from = None
    if len(text) == 15:
        if not text.isdigit():
            raise InvalidIdNumber("characters", "15位身份证号码只能由数字组成。")
        upgraded_from = text
        # Legacy numbers were issued before 2000: the 2-digit year is 19xx.
        first17 = text[:6] + "19" + text[6:]
        text = first17 + check_char(first17)
    elif len(text) != 18:
        raise InvalidIdNumber("length", f"身份证号码应为18位（或旧式15位），您输入了{len(text)}位。")
    body, last = text[:17], text[17]
    if not body.isdigit() or not (last.isdigit() or last == "X"):
        raise InvalidIdNumber("characters", "身份证号码前17位必须是数字，最后一位是数字或字母X。")
    region = body[:6]
    if region[:2] not in PROVINCE_PREFIXES or region[2:] == "0000":
        raise InvalidIdNumber("region", f"前6位地址码“{region}”不是有效的行政区划代码。")
    born = _parse_birth(body[6:14])
    if born < EARLIEST_BIRTH or born > today:
        raise InvalidIdNumber("birth_date", f"出生日期“{body[6:14]}”不在合理范围内。")
    sequence = int(body[14:17])
    if sequence == 0:
        raise InvalidIdNumber("sequence", "顺序码“000”无效。")
    expected = check_char(body)
    if last != expected:
        raise InvalidIdNumber("checksum", "校验位不正确，请核对号码是否输错（常见为个别数字输错或顺序颠倒）。")
    return IdNumber(number=text, region_code=region, birth_date=born, sequence=sequence, upgraded_from=upgraded_from)


def is_valid(raw: str) -> bool:
    try:
        parse(raw)
    except InvalidIdNumber:
        return False
    return True


def mask(number: str) -> str:
    """First 6 + last 4 visible (371602********1234), the common display practice."""
    text = str(number or "")
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def make(region_code: str, birth_date: dt.date, sequence: int) -> str:
    """Build a valid 18-character number (for the synthetic city and tests)."""
    first17 = f"{region_code}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + check_char(first17)


# Anything that looks like an ID number inside free text (logs, messages).
ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8}\d{3})([\dXx])(?![0-9A-Za-z])")


def mask_in_text(text: str) -> str:
    return ID_PATTERN.sub(lambda m: m.group(1) + "*" * 8 + m.group(2)[-3:] + m.group(3), text)
