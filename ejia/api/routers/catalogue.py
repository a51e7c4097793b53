"""Catalogue: programmes, standards by county, and the self-check evaluation.

Public information (scope catalogue:read); read through the catalogue's and the portal's own
selectors, so the API shows what the portal shows.
"""

from __future__ import annotations

import datetime as dt

from django.http import Http404
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from ejia.accounts.policies import ApiScope
from ejia.api.auth import client_auth
from ejia.api.errors import Error
from ejia.catalogue import selectors as catalogue
from ejia.catalogue.models import Programme
from ejia.portal import catalogue as portal_catalogue
from ejia.portal import selectors as portal
from ejia.rules.facts import STANDARD_KINDS

router = Router(tags=["救助项目"], auth=client_auth(ApiScope.CATALOGUE_READ))

ERRORS = {401: Error, 403: Error, 404: Error, 422: Error, 429: Error}


class ProgrammeOut(Schema):
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


class StandardLineOut(Schema):
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


class StandardsOut(Schema):
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
