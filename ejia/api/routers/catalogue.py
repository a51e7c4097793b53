"""Catalogue: programmes, standards by county, and the self-check evaluation.

Public information (scope catalogue:read); read through the catalogue's and the portal's own
selectors, so the API shows what the portal shows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.http import Http404
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from ejia.accounts.policies import ApiScope
from ejia.api.auth import client_auth
from ejia.api.errors import ApiError, Error
from ejia.api.schemas import OutSchema
from ejia.catalogue import selectors as catalogue
from ejia.catalogue.models import Programme
from ejia.portal import catalogue as portal_catalogue
from ejia.portal import questions, results
from ejia.portal import selectors as portal
from ejia.rules.facts import STANDARD_KINDS

router = Router(tags=["救助项目"], auth=client_auth(ApiScope.CATALOGUE_READ))

ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 422: Error, 429: Error}


class ProgrammeOut(OutSchema):
    code: str
    name: str
    department: str
    department_code: str
    category: str
    category_label: str
    target: str
    target_groups: list[str]
    benefit_form: str
    amount_period: str
    summary: str


class StandardLineOut(OutSchema):
    kind: str
    label: str
    urban_fen: int | None
    rural_fen: int | None


class ProgrammeDetailOut(ProgrammeOut):
    description: str
    how_much: str
    legal_basis: str
    materials: list[str]
    unchecked_conditions: list[str]
    contact_unit: str
    contact_phone: str
    version: int | None
    effective_from: dt.date | None
    criteria: list[str]
    county_code: str
    standards: list[StandardLineOut]


class ProgrammeFilters(Schema):
    q: str = Field("", max_length=100, description="关键词（汉字或拼音首字母）")
    department: str = Field("", max_length=20)
    category: str = Field("", max_length=20)
    group: str = Field("", max_length=40)


def _programme(p: Programme) -> dict:
    return {
        "code": p.code,
        "name": p.name,
        "department": p.department.name,
        "department_code": p.department.code,
        "category": p.category,
        "category_label": str(p.get_category_display()),
        "target": p.target,
        "target_groups": [str(g) for g in p.target_groups or []],
        "benefit_form": p.benefit_form,
        "amount_period": p.amount_period,
        "summary": p.summary,
    }


def _county(code: str):
    county = portal.county_get(code)
    if county is None:
        raise Http404(f"没有县（市、区）代码“{code}”。")
    return county


@router.get("/programmes", response={200: list[ProgrammeOut], **ERRORS}, summary="救助项目列表")
def programme_list(request, filters: Query[ProgrammeFilters]):
    found = catalogue.programme_list(
        q=filters.q, department=filters.department, category=filters.category, group=filters.group
    )
    return [_programme(p) for p in found]


@router.get("/programmes/{code}", response={200: ProgrammeDetailOut, **ERRORS}, summary="救助项目详情")
def programme_detail(request, code: str, county: str = Query("", max_length=12, description="县级区划代码")):
    on = timezone.localdate()
    if county:
        _county(county)
    page = portal_catalogue.programme_page(code[:40], on=on, county_code=county)
    if page is None:
        raise Http404("没有找到该救助项目。")
    p, version = page.programme, page.version
    standards = []
    if page.county is not None:
        urban = catalogue.standards_for(page.county, True, on)
        rural = catalogue.standards_for(page.county, False, on)
        kinds = [k for k in STANDARD_KINDS if k in urban or k in rural]
        wanted = {line.label for line in page.standards}
        standards = [
            {"kind": k, "label": str(STANDARD_KINDS[k]), "urban_fen": urban.get(k), "rural_fen": rural.get(k)}
            for k in kinds
            if str(STANDARD_KINDS[k]) in wanted
        ]
    return {
        **_programme(p),
        "description": p.description,
        "how_much": p.how_much,
        "legal_basis": p.legal_basis,
        "materials": [str(m) for m in p.materials or []],
        "unchecked_conditions": [str(m) for m in p.unchecked_conditions or []],
        "contact_unit": p.contact_unit,
        "contact_phone": p.contact_phone,
        "version": version.number if version else None,
        "effective_from": version.effective_from if version else None,
        "criteria": page.criteria,
        "county_code": county,
        "standards": standards,
    }


class StandardsOut(OutSchema):
    county_code: str
    county_name: str
    on: dt.date
    standards: list[StandardLineOut]


@router.get("/standards/{county}", response={200: StandardsOut, **ERRORS}, summary="某县（市、区）现行救助标准")
def standards_by_county(request, county: str, on: dt.date | None = None):
    division = _county(county[:12])
    on = on or timezone.localdate()
    urban = catalogue.standards_for(division, True, on)
    rural = catalogue.standards_for(division, False, on)
    kinds = sorted(set(urban) | set(rural))
    return {
        "county_code": division.code,
        "county_name": division.name,
        "on": on,
        "standards": [
            {"kind": k, "label": str(STANDARD_KINDS.get(k, k)), "urban_fen": urban.get(k), "rural_fen": rural.get(k)}
            for k in kinds
        ],
    }


# ---------------------------------------------------------------- self-check


class ChoiceOut(OutSchema):
    value: str
    label: str


class QuestionFieldOut(OutSchema):
    name: str
    label: str
    type: str
    required: bool
    choices: list[ChoiceOut] = []


class QuestionOut(OutSchema):
    slug: str
    question: str
    fields: list[QuestionFieldOut]


def _field_type(field) -> str:
    kinds = {
        forms.MultipleChoiceField: "choices",
        forms.ChoiceField: "choice",
        forms.IntegerField: "integer",
        forms.BooleanField: "boolean",
    }
    return next((name for kind, name in kinds.items() if isinstance(field, kind)), "text")


def _flat(choices):
    """Choices with their groups opened ("滨城区" → its townships), without the empty prompt."""
    for value, label in choices:
        if isinstance(label, (list, tuple)):
            yield from ((v, f"{value} {inner}") for v, inner in label)
        elif value != "":
            yield value, label


@router.get("/self-check/questions", response={200: list[QuestionOut], **ERRORS}, summary="自助测算的问题")
def self_check_questions(request):
    """The portal's questions with their fields and choices: what `answers` holds, by `slug`.
    A question applies depending on earlier answers (school only with children…)."""
    found = []
    for step in questions.STEPS:
        form = step.form_class(answers={})
        fields = []
        for name, field in form.fields.items():
            choices = [{"value": str(v), "label": str(label)} for v, label in _flat(getattr(field, "choices", []))]
            fields.append(
                {
                    "name": name,
                    "label": str(field.label or name),
                    "type": _field_type(field),
                    "required": field.required,
                    "choices": choices,
                }
            )
        found.append({"slug": step.slug, "question": str(step.question), "fields": fields})
    return found


class SelfCheckIn(Schema):
    answers: dict[str, dict[str, Any]] = Field(
        ..., description="按问题 slug 给出答案，字段见 /catalogue/self-check/questions", max_length=20
    )


class ReasonOut(OutSchema):
    label: str
    detail: str


class ResultOut(OutSchema):
    code: str
    name: str
    department: str
    outcome: str
    amount_fen: int | None
    amount_text: str
    reasons: list[ReasonOut]
    unknown: list[str]
    unchecked: list[str]
    who: str


class SelfCheckOut(OutSchema):
    on: dt.date
    division_code: str
    results: list[ResultOut]


def _validated_answers(raw: dict[str, dict[str, Any]]) -> questions.Answers:
    """Each applicable question's answer through the portal's own form, in the portal's order;
    the first problem is a 422 naming the field."""
    unknown = sorted(set(raw) - set(questions.STEP_BY_SLUG))
    if unknown:
        raise ApiError(422, "invalid_request", f"没有这个问题：{unknown[0]}。", field=f"body.answers.{unknown[0]}")
    answers: questions.Answers = {}
    for step in questions.STEPS:
        if not step.applies(answers):
            continue
        given = raw.get(step.slug)
        if given is None:
            raise ApiError(
                422, "invalid_request", f"缺少问题“{step.question}”的答案。", field=f"body.answers.{step.slug}"
            )
        form = step.form_class(_form_data(given), answers=answers)
        if not form.is_valid():
            details = [
                {
                    "field": f"body.answers.{step.slug}" + ("" if name == "__all__" else f".{name}"),
                    "code": "invalid",
                    "message": str(message),
                }
                for name, messages in form.errors.items()
                for message in messages
            ]
            raise ApiError(422, "invalid_request", details[0]["message"], field=details[0]["field"], details=details)
        answers[step.slug] = form.cleaned_data
    return answers


def _form_data(given: dict[str, Any]) -> dict[str, Any]:
    """JSON values as a browser would post them (true/false as the checkbox does)."""
    data = {}
    for name, value in given.items():
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list):
            data[name] = [str(v) for v in value]
        elif value is not None:
            data[name] = str(value)
    return data


@router.post("/self-check", response={200: SelfCheckOut, 503: Error, **ERRORS}, summary="自助测算")
def self_check(request, payload: SelfCheckIn):
    """The portal's self-check: the answers through the same questions, the same estimate and
    the same rule evaluation; every programme with its outcome and the reasons."""
    answers = _validated_answers(payload.answers)
    on = timezone.localdate()
    estimate = questions.build_estimate(answers, on)
    evaluation = results.evaluate(estimate, on=on)
    if evaluation.error:  # a broken rule (logged): the portal says the same and sends people to the window
        raise ApiError(503, "evaluation_unavailable", evaluation.error)
    lines = [
        {**vars(line), "outcome": group.key, "reasons": [vars(r) for r in line.reasons]}
        for group in evaluation.groups
        for line in group.items
    ]
    return {"on": on, "division_code": estimate.division_code, "results": lines}
