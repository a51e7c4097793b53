import base64
import datetime as dt
import io

import pytest
from PIL import Image, ImageDraw

from conftest import make_staff
from ejia.accounts.models import OrgUnit, Role
from ejia.cases.drafts import new_member_key
from ejia.cases.uploads import store_signature
from ejia.registry.tests.factories import new_id, village


def signature_data_url() -> str:
    img = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(10, 50), (150, 20), (290, 80)], fill=(0, 0, 0, 255), width=3)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def catalogue(org):
    from ejia.catalogue.seed import catalogue_seed

    catalogue_seed()


@pytest.fixture
def gina(org):
    """A grid worker in 市中街道's first community."""
    unit = OrgUnit.objects.get(division=village("371602001"), kind="station")
    return make_staff("gina", unit, Role.GRID_WORKER, display_name="孙网格")


def member(name, *, birth=dt.date(1975, 4, 2), female=False, relation="02", **facts):
    return {
        "key": new_member_key(),
        "id_number": new_id(birth, female=female),
        "name": name,
        "relation": relation,
        "phone": "",
        "source": "manual",
        "facts": facts,
    }


def application(*members, township="371602001", programmes=("dibao",), sign=True, **extra):
    """The draft content of a finished intake form (as the window steps leave it)."""
    members = list(members) or [
        member("张大山", income_month_fen=30000),
        member("李小花", female=True, relation="10", income_month_fen=0),
    ]
    data = {
        "channel": "window",
        "applicant": members[0]["key"],
        "household_id": None,
        "division_code": village(township).code,
        "address": "幸福路8号",
        "hukou_number": "",
        "phone": "13812345678",
        "bank_name": "",
        "account_number": "",
        "members": members,
        "household_facts": {"financial_assets_fen": 100000, "vehicles": 0, "housing_units": 1, "has_business": False},
        "needs": ["illness", "daily_living"],
        "needs_note": "丈夫患病，无稳定收入",
        "programmes": list(programmes),
        "auth": {},
        "materials_received": [],
    }
    if sign:
        now = dt.datetime.now(dt.UTC).isoformat()
        for m in members:
            data["auth"][m["key"]] = {
                "method": "signature",
                "file": store_signature(signature_data_url()),
                "signed_at": now,
            }
    data.update(extra)
    return data
