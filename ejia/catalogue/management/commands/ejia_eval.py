"""Evaluate one household from a JSON file against every programme in force and print JSON.

    python manage.py ejia_eval household.json [--date 2024-03-01]

Input: {"division": "<village, township or county code>", "household": {...}, "members": [{...}]}.
Any fact may be left out (it is then unknown). Mistakes in the input are reported in Chinese
on stderr with exit code 2; they are the user's to fix, so no traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ejia.catalogue.models import Programme
from ejia.catalogue.selectors import DivisionNotFound, evaluate_household
from ejia.rules import RuleError
from ejia.rules.facts import HOUSEHOLD_FACTS, MEMBER_FACTS

# Keys a member may give besides facts: the ID number yields the birth date; a name or
# label only helps the reader match output to input.
MEMBER_EXTRA_KEYS = {"id_number", "name", "label"}


class InputError(Exception):
    pass


def _check_keys(given: dict[str, Any], allowed: dict, extra: set[str], where: str) -> None:
    for key in given:
        if key in extra:
            continue
        fact = allowed.get(key)
        if fact is None:
            other = MEMBER_FACTS if allowed is HOUSEHOLD_FACTS else HOUSEHOLD_FACTS
            hint = (
                "（这是家庭成员的事实，请写在 members 里）"
                if allowed is HOUSEHOLD_FACTS
                else "（这是家庭的事实，请写在 household 里）"
            )
            raise InputError(f"{where}：未知的事实“{key}”" + (hint if key in other else ""))
        if fact.derived and not fact.overridable:
            raise InputError(f"{where}：“{key}”（{fact.label}）由系统根据其他事实计算，不能直接填写")


def parse_input(data: Any) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    if not isinstance(data, dict):
        raise InputError("输入必须是一个 JSON 对象，包含 division、household、members")
    unknown = set(data) - {"division", "household", "members"}
    if unknown:
        raise InputError(f"输入中有无法识别的字段：{'、'.join(sorted(unknown))}")
    division = data.get("division")
    if not isinstance(division, str) or not division.strip():
        raise InputError("缺少 division（村（社区）、乡镇（街道）或县（市、区）的行政区划代码）")
    household = data.get("household") or {}
    members = data.get("members") or []
    if not isinstance(household, dict):
        raise InputError("household 必须是一个 JSON 对象")
    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
        raise InputError("members 必须是 JSON 对象的列表，每位家庭成员一个")
    if not members:
        raise InputError("members 不能为空：家庭至少有一名成员")
    _check_keys(household, HOUSEHOLD_FACTS, {"urban"}, "household")
    for i, member in enumerate(members, start=1):
        _check_keys(member, MEMBER_FACTS, MEMBER_EXTRA_KEYS, f"第{i}位家庭成员")
    return division.strip(), household, members


class Command(BaseCommand):
    help = "Evaluate one household (JSON file) against every programme in force; print the results as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="JSON 文件路径，“-” 表示标准输入")
        parser.add_argument("--date", help="评估日期 YYYY-MM-DD，默认今天")

    def fail(self, message: str) -> None:
        self.stderr.write(f"错误：{message}")
        sys.exit(2)

    def handle(self, *args, **options):
        try:
            on = dt.date.fromisoformat(options["date"]) if options.get("date") else dt.date.today()
        except ValueError:
            self.fail(f"日期“{options['date']}”无效，应为 YYYY-MM-DD")
        path = options["file"]
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            self.fail(f"无法读取文件“{path}”：{exc.strerror or exc}")
        except UnicodeDecodeError:
            self.fail(f"文件“{path}”不是 UTF-8 编码的文本")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            self.fail(f"JSON 格式错误：第{exc.lineno}行第{exc.colno}列附近（{exc.msg}）")
        try:
            division, household, members = parse_input(data)
            results = evaluate_household(division_code=division, household=household, members=members, on=on)
        except (InputError, DivisionNotFound) as exc:
            self.fail(str(exc))
        except RuleError as exc:
            self.fail(str(exc))
        names = dict(Programme.objects.values_list("code", "name"))
        output = {
            "date": on.isoformat(),
            "division": division,
            "programmes": [
                {**result.to_json(), "name": names.get(code, result.name)} for code, result in results.items()
            ],
        }
        self.stdout.write(json.dumps(output, ensure_ascii=False, indent=2))
