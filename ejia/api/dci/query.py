"""Search criteria of a DCI search request → a bounded query on indexed registry columns.

Supported (social_api v1.0.0 `search_criteria`):
- `idtype-value`: `{"type": T, "value": V}` with T one of NationalID/UIN (居民身份证号码, looked
  up through the blind index), HouseholdID (our household UUID), HukouNumber (户号).
- `expression`: `{"type": "ns:ejia:QueryType:NoSql", "value": {"expression": {"collection":
  "Group"|"Member", "query": {"$and": [{attr: {"$eq"|"$in": v}}, …]}}}}`.
- `predicate`: the spec's list of `{seq_num, expression1, condition, expression2}` with operators
  `eq`/`in` and conditions `and`/`or`; list items are combined with AND in seq_num order.
Attributes (every one an indexed column): `national_id`, `group_id`, `hukou_number`,
`division_code` (a division of any level: its whole subtree). Range operators are refused: they
would need columns we do not index for partners.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from operator import or_
from typing import Any

from django.core import signing
from django.db.models import Q

from ejia.accounts.models import Division
from ejia.api.dci.envelope import RJCT_CRITERIA, RJCT_PAGINATION, RJCT_SORT
from ejia.core import idnumber
from ejia.registry.models import Membership
from ejia.registry.services import id_index

ENTITIES = ("Group", "Member")
NATIONAL_ID_TYPES = {"NationalID", "UIN", "national_id"}
HOUSEHOLD_ID_TYPES = {"HouseholdID", "GroupID", "group_id"}
HUKOU_TYPES = {"HukouNumber", "hukou_number"}
ATTRIBUTES = ("national_id", "group_id", "hukou_number", "division_code")
MAX_IN = 100
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_CURSOR_SALT = "ejia.api.dci.cursor"


class CriteriaError(Exception):
    """A search request we reject (status rjct) with the spec's reason code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Page:
    size: int
    number: int
    after_pk: int | None  # keyset cursor: rows with a larger primary key


@dataclass(frozen=True)
class ParsedQuery:
    entity: str  # "Group" | "Member"
    households: Q  # condition on registry.Household
    page: Page


def _division_q(code: str) -> Q:
    """Households in the division or anywhere under it (its `path` is a prefix of theirs). A
    join on the path, not a list of the area's ids: the city has about 5,000 villages, and
    compiling and sending that list cost a search by ID number about 55 ms at full city."""
    code = str(code).strip()
    division = Division.objects.filter(code=code).only("path").first() if code.isdigit() else None
    if division is None:
        raise CriteriaError(RJCT_CRITERIA, f"行政区划代码不正确：{code}")
    return Q(division__path__startswith=division.path)


def _national_index(value: Any) -> str:
    try:
        return id_index(idnumber.parse(str(value)).number)
    except idnumber.InvalidIdNumber as exc:
        raise CriteriaError(RJCT_CRITERIA, f"身份证号码不正确：{exc}") from exc


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise CriteriaError(RJCT_CRITERIA, f"家庭标识不正确：{value}") from exc


def attribute_q(attribute: str, operator: str, value: Any) -> Q:
    """One condition on households, on an indexed column only."""
    if operator not in ("eq", "in"):
        raise CriteriaError(RJCT_CRITERIA, f"不支持的运算符：{operator}（仅支持 eq、in）")
    values = value if operator == "in" else [value]
    if not isinstance(values, list) or not values or len(values) > MAX_IN:
        raise CriteriaError(RJCT_CRITERIA, f"in 的取值须为1至{MAX_IN}个值的列表。")
    if any(isinstance(v, (dict, list)) for v in values):
        raise CriteriaError(RJCT_CRITERIA, f"{attribute} 的取值须为字符串。")
    if attribute == "national_id":
        indexes = [_national_index(v) for v in values]
        holders = Membership.objects.filter(date_out__isnull=True, person__id_number_index__in=indexes)
        return Q(pk__in=holders.values("household_id"))
    if attribute == "group_id":
        return Q(public_id__in=[_uuid(v) for v in values])
    if attribute == "hukou_number":
        return Q(hukou_number__in=[str(v).strip() for v in values])
    if attribute == "division_code":
        return functools.reduce(or_, (_division_q(v) for v in values))
    raise CriteriaError(RJCT_CRITERIA, f"不支持的查询字段：{attribute}（可用：{'、'.join(ATTRIBUTES)}）")


def _idtype_value(query: Any) -> Q:
    if not isinstance(query, dict) or "type" not in query or "value" not in query:
        raise CriteriaError(RJCT_CRITERIA, "idtype-value 查询须含 type 与 value。")
    kind = str(query["type"])
    if kind in NATIONAL_ID_TYPES:
        return attribute_q("national_id", "eq", query["value"])
    if kind in HOUSEHOLD_ID_TYPES:
        return attribute_q("group_id", "eq", query["value"])
    if kind in HUKOU_TYPES:
        return attribute_q("hukou_number", "eq", query["value"])
    raise CriteriaError(RJCT_CRITERIA, f"不支持的证件类型：{kind}")


def _expression(query: Any) -> tuple[Q, str | None]:
    value = query.get("value") if isinstance(query, dict) else None
    expression = value.get("expression") if isinstance(value, dict) else None
    if not isinstance(expression, dict) or not isinstance(expression.get("query"), dict):
        raise CriteriaError(RJCT_CRITERIA, "expression 查询须为 {value: {expression: {collection, query}}}。")
    collection = expression.get("collection")
    if collection is not None and collection not in ENTITIES:
        raise CriteriaError(RJCT_CRITERIA, f"不支持的集合：{collection}")
    body = expression["query"]
    terms = body["$and"] if set(body) == {"$and"} else [body]
    if not isinstance(terms, list) or not terms:
        raise CriteriaError(RJCT_CRITERIA, "$and 须为非空列表。")
    condition = Q()
    for term in terms:
        if not isinstance(term, dict) or not term:
            raise CriteriaError(RJCT_CRITERIA, "表达式的每一项须为 {字段: {运算符: 值}}。")
        for attribute, test in term.items():
            if not isinstance(test, dict) or len(test) != 1:
                raise CriteriaError(RJCT_CRITERIA, f"{attribute} 须写为 {{运算符: 值}}。")
            ((operator, operand),) = test.items()
            condition &= attribute_q(str(attribute), str(operator).removeprefix("$"), operand)
    return condition, collection


def _predicate(query: Any) -> Q:
    if not isinstance(query, list) or not query:
        raise CriteriaError(RJCT_CRITERIA, "predicate 查询须为非空列表。")

    def one(expression: Any) -> Q:
        if not isinstance(expression, dict) or not {"attribute_name", "operator", "attribute_value"} <= set(expression):
            raise CriteriaError(RJCT_CRITERIA, "谓词须含 attribute_name、operator、attribute_value。")
        return attribute_q(
            str(expression["attribute_name"]), str(expression["operator"]), expression["attribute_value"]
        )

    condition = Q()
    for item in sorted(query, key=lambda i: i.get("seq_num", 0) if isinstance(i, dict) else 0):
        if not isinstance(item, dict) or "expression1" not in item:
            raise CriteriaError(RJCT_CRITERIA, "谓词列表的每一项须含 expression1。")
        part = one(item["expression1"])
        joiner = item.get("condition")
        if joiner in ("and", "or") and "expression2" in item:
            part = part & one(item["expression2"]) if joiner == "and" else part | one(item["expression2"])
        elif joiner == "not" and "expression2" not in item:
            part = ~part
        elif joiner is not None or "expression2" in item:
            raise CriteriaError(RJCT_CRITERIA, f"谓词条件不正确：{joiner}")
        condition &= part
    return condition


def encode_cursor(last_pk: int) -> str:
    return signing.dumps(last_pk, salt=_CURSOR_SALT, compress=False)


def _page(pagination: Any) -> Page:
    if pagination is None:
        return Page(DEFAULT_PAGE_SIZE, 1, None)
    if not isinstance(pagination, dict):
        raise CriteriaError(RJCT_PAGINATION, "pagination 须为对象。")
    size, number = pagination.get("page_size", DEFAULT_PAGE_SIZE), pagination.get("page_number", 1)
    if (
        isinstance(size, bool)
        or not isinstance(size, (int, float))
        or int(size) != size
        or not 1 <= size <= MAX_PAGE_SIZE
    ):
        raise CriteriaError(RJCT_PAGINATION, f"page_size 须为1至{MAX_PAGE_SIZE}的整数。")
    if isinstance(number, bool) or not isinstance(number, (int, float)) or int(number) != number or number < 1:
        raise CriteriaError(RJCT_PAGINATION, "page_number 须为从1开始的整数。")
    after = None
    if pagination.get("cursor"):
        try:
            after = int(signing.loads(str(pagination["cursor"]), salt=_CURSOR_SALT))
        except (signing.BadSignature, ValueError, TypeError) as exc:
            raise CriteriaError(RJCT_PAGINATION, "分页游标（cursor）无效。") from exc
    return Page(int(size), int(number), after)


def parse_criteria(criteria: Any) -> ParsedQuery:
    if not isinstance(criteria, dict):
        raise CriteriaError(RJCT_CRITERIA, "search_criteria 须为对象。")
    query_type, query = criteria.get("query_type"), criteria.get("query")
    entity = criteria.get("response_entity") or "Group"
    if entity not in ENTITIES:
        raise CriteriaError(RJCT_CRITERIA, f"不支持的返回实体：{entity}（Group 或 Member）")
    if criteria.get("sort"):
        sort = criteria["sort"]
        if not isinstance(sort, list) or any(
            not isinstance(s, dict) or s.get("attribute_name") != "registration_date" for s in sort
        ):
            raise CriteriaError(RJCT_SORT, "仅支持按 registration_date（登记先后）排序。")
    if query_type == "idtype-value":
        condition = _idtype_value(query)
    elif query_type == "expression":
        condition, collection = _expression(query)
        entity = criteria.get("response_entity") or collection or "Group"
    elif query_type == "predicate":
        condition = _predicate(query)
    else:
        raise CriteriaError(RJCT_CRITERIA, f"不支持的查询类型：{query_type}（idtype-value、expression、predicate）")
    return ParsedQuery(entity=entity, households=condition, page=_page(criteria.get("pagination")))
