"""Public reference data the portal reads: counties, townships, service windows.

Nothing here is personal: these are the divisions and the addresses of the windows that
anyone may see.
"""

from __future__ import annotations

from dataclasses import dataclass

from ejia.accounts.models import Division, OrgUnit

CITY_CODE = "371600"


@dataclass(frozen=True, slots=True)
class Place:
    code: str
    name: str
    county_code: str
    county_name: str
    urban: bool


def counties() -> list[Division]:
    return list(Division.objects.filter(level=Division.Level.COUNTY).order_by("code"))


def county_get(code: str | None) -> Division | None:
    if not code:
        return None
    return Division.objects.filter(level=Division.Level.COUNTY, code=code).first()


def townships_by_county() -> list[tuple[Division, list[Division]]]:
    """[(county, [townships…]), …] for a grouped select."""
    groups: dict[str, list[Division]] = {}
    for township in Division.objects.filter(level=Division.Level.TOWNSHIP).order_by("code"):
        groups.setdefault(township.code[:6], []).append(township)
    return [(county, groups.get(county.code, [])) for county in counties() if groups.get(county.code)]


def place_get(township_code: str | None) -> Place | None:
    if not township_code:
        return None
    township = (
        Division.objects.filter(level=Division.Level.TOWNSHIP, code=township_code).select_related("parent").first()
    )
    if township is None:
        return None
    county = township.parent
    return Place(
        code=township.code,
        name=township.name,
        county_code=county.code if county else township.code[:6],
        county_name=county.name if county else "",
        urban=township.urban,
    )


def windows_near(township_code: str | None) -> dict[str, OrgUnit | None]:
    """The township's assistance window and the county's assistance centre, if known."""
    result: dict[str, OrgUnit | None] = {"window": None, "centre": None}
    if not township_code:
        return result
    result["window"] = (
        OrgUnit.objects.filter(division__code=township_code, kind=OrgUnit.Kind.WINDOW)
        .select_related("division")
        .first()
    )
    result["centre"] = (
        OrgUnit.objects.filter(division__code=township_code[:6], kind=OrgUnit.Kind.CENTRE)
        .select_related("division")
        .first()
    )
    return result
