"""The release under production settings: `collectstatic` with the production static storage,
and the headers every answer carries (Content-Security-Policy, Permissions-Policy, no-store on
what is personal, nothing stopping caches on the public catalogue).

"Production-like" = the test settings plus everything `config.settings_production` changes
from `config.settings`, except its secrets and the database; requests come as through the HTTPS
proxy (X-Forwarded-Proto: https), static files are the collected, hashed ones.
"""

from __future__ import annotations

import base64
import importlib
import sys

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

import config
import config.settings as base_settings
from conftest import _unit, make_staff
from ejia.accounts.models import Role
from ejia.api.keys import new_pem

# What production must not hand to the tests: its secrets and its database.
NOT_COPIED = {
    "SECRET_KEY",
    "DATABASES",
    "DATABASE_URL",
    "EJIA_FIELD_KEYS",
    "EJIA_BLIND_INDEX_KEY",
    "EJIA_AUDIT_KEY",
    "EJIA_API_SIGNING_KEY",
}
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "test-" + "x" * 60,
    "EJIA_FIELD_KEYS": "k1:" + base64.b64encode(b"p" * 32).decode(),
    "EJIA_BLIND_INDEX_KEY": "test-blind",
    "EJIA_AUDIT_KEY": "test-audit",
    "EJIA_API_SIGNING_KEY": new_pem().decode("ascii"),
    "DJANGO_ALLOWED_HOSTS": "testserver",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://testserver",
}


def production_overrides() -> dict:
    """Every setting config.settings_production gives another value than config.settings."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in PRODUCTION_ENV.items():
            mp.setenv(name, value)
        sys.modules.pop("config.settings_production", None)
        try:
            production = importlib.import_module("config.settings_production")
        finally:
            sys.modules.pop("config.settings_production", None)
    return {
        name: getattr(production, name)
        for name in dir(production)
        if name.isupper()
        and name not in NOT_COPIED
        and getattr(production, name) != getattr(base_settings, name, object())
    }


@pytest.fixture(scope="module")
def collected_static(tmp_path_factory):
    """The release step: collectstatic with production's storage (hashed names, manifest,
    compressed copies). A vendored file naming a file that is not shipped (a .map) fails here."""
    root = tmp_path_factory.mktemp("staticfiles")
    with override_settings(STATIC_ROOT=root, STORAGES=production_overrides()["STORAGES"]):
        call_command("collectstatic", "--noinput", verbosity=0)
    return root


@pytest.fixture
def production(settings, collected_static):
    for name, value in production_overrides().items():
        setattr(settings, name, value)
    settings.STATIC_ROOT = collected_static
    return settings


@pytest.fixture
def browser(production):
    """A client that comes in through the HTTPS proxy."""
    return Client(HTTP_X_FORWARDED_PROTO="https")


def csp(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def no_store(response) -> bool:
    return "no-store" in response.headers.get("Cache-Control", "")


# ---------------------------------------------------------------- release


def test_production_collects_its_static_files_with_the_manifest_storage(collected_static):
    assert production_overrides()["STORAGES"]["staticfiles"]["BACKEND"] == (
        "whitenoise.storage.CompressedManifestStaticFilesStorage"
    )
    manifest = (collected_static / "staticfiles.json").read_text()
    for name in ("vendor/bootstrap/bootstrap.min.css", "vendor/htmx/htmx.min.js", "ejia/ejia.js", "ejia/ejia.css"):
        assert f'"{name}"' in manifest
    assert list((collected_static / "vendor" / "bootstrap").glob("bootstrap.min.*.css.gz"))


def test_pages_link_the_hashed_static_files(browser):
    page = browser.get(reverse("accounts:login")).content.decode()
    assert "/static/vendor/bootstrap/bootstrap.min.css" not in page  # the hashed name instead
    assert "/static/vendor/bootstrap/bootstrap.min." in page and "/static/ejia/ejia." in page


# ---------------------------------------------------------------- CSP and Permissions-Policy


def test_the_login_page_carries_the_whole_policy(browser):
    response = browser.get(reverse("accounts:login"))
    assert response.status_code == 200
    policy = csp(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    assert policy["form-action"] == ["'self'"] and policy["base-uri"] == ["'none'"]
    header = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header
    assert "http:" not in header and "https:" not in header and "*" not in header  # no other origin

    features = dict(item.strip().split("=", 1) for item in response.headers["Permissions-Policy"].split(","))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "display-capture"):
        assert features[feature] == "()", feature

    # What was there before stays.
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


def test_plain_http_is_sent_to_https_before_anything_else(production):
    response = Client().get(reverse("accounts:login"))
    assert response.status_code == 301 and response["Location"].startswith("https://")


def test_the_card_readers_own_origin_is_the_only_other_place_a_page_may_fetch(settings):
    """A reader service on the clerk's PC (EJIA_ID_READER_URL) is added to connect-src when
    the settings are read; without one the pages fetch from their own origin only."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EJIA_ID_READER_URL", "http://127.0.0.1:8765/api/read")
        sys.modules.pop("config.settings", None)
        try:
            with_reader = importlib.import_module("config.settings")
        finally:
            sys.modules["config.settings"] = base_settings
            config.settings = base_settings  # the import bound the package attribute to the copy
    assert with_reader.CONTENT_SECURITY_POLICY["DIRECTIVES"]["connect-src"] == ["'self'", "http://127.0.0.1:8765"]
    assert base_settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["connect-src"] == ["'self'"]


# ---------------------------------------------------------------- Cache-Control


@pytest.fixture
def catalogue(org):
    from ejia.catalogue.seed import catalogue_seed

    catalogue_seed()


@pytest.fixture
def case(bob, catalogue):
    from ejia.cases.services import case_submit
    from ejia.cases.tests.conftest import application

    return case_submit(actor=bob, channel="window", idempotency_key="headers", data=application())


def test_every_staff_page_and_personal_download_is_never_stored(browser, bob, case):
    browser.force_login(bob)
    authorisation = case.authorisations.first()
    pages = {
        "staff home": reverse("accounts:home"),
        "case list": reverse("cases:queue"),
        "case detail": reverse("cases:case_detail", args=[case.public_id]),
        "household": reverse("registry:household_detail", args=[case.household.public_id]),
        "household search": reverse("registry:household_search"),
    }
    for what, url in pages.items():
        response = browser.get(url)
        assert response.status_code == 200, what
        assert no_store(response), f"{what}: {response.headers.get('Cache-Control')}"
        assert "private" in response["Cache-Control"], what
        assert csp(response)["script-src"] == ["'self'"], what

    receipt = browser.get(reverse("cases:case_receipt", args=[case.public_id]))
    assert receipt["Content-Type"] == "application/pdf" and no_store(receipt)
    # Chromium's PDF viewer breaks under style-src 'self' (ejia.core.headers); framing stays refused.
    assert "Content-Security-Policy" not in receipt.headers and receipt["X-Frame-Options"] == "DENY"
    image = browser.get(reverse("cases:authorisation_image", args=[case.public_id, authorisation.public_id]))
    assert image.status_code == 200 and image["Content-Type"].startswith("image/") and no_store(image)
    assert "Content-Security-Policy" not in image.headers  # Chromium's image viewer styles itself inline


def test_the_exchange_operators_exports_are_never_stored(browser, org, tmp_path, production):
    from ejia.verification.models import SourceSnapshot
    from ejia.verification.sources import sources_seed
    from ejia.verification.tests.conftest import write_csv
    from ejia.verification.tests.test_views import HEADER, ROWS

    production.VAR_DIR = tmp_path / "var"
    sources_seed()
    olga = make_staff("olga", _unit("371600", "centre"), Role.EXCHANGE_OPERATOR)
    browser.force_login(olga)
    data = write_csv(tmp_path / "cl.csv", HEADER, ROWS).read_bytes()
    uploaded = browser.post(
        reverse("verification:upload", args=["cl_disability"]),
        {"file": SimpleUploadedFile("残联.csv", data, content_type="text/csv")},
    )
    assert uploaded.status_code == 302 and no_store(uploaded)
    snapshot = SourceSnapshot.objects.get()
    for fmt in ("csv", "xlsx"):
        export = browser.get(reverse("verification:rejected", args=[snapshot.public_id, fmt]))
        assert export.status_code == 200 and "attachment" in export["Content-Disposition"]
        assert no_store(export), fmt


def test_the_citizens_pages_behind_the_phone_login_are_never_stored(browser, catalogue):
    for url in (reverse("citizen:mine"), reverse("citizen:login"), reverse("citizen:apply"), reverse("citizen:track")):
        response = browser.get(url)
        assert response.status_code in (200, 302), url
        assert no_store(response), url


def test_the_public_catalogue_may_be_cached_until_a_staff_member_signs_in(browser, bob, catalogue):
    public = (reverse("portal:home"), reverse("portal:catalogue"), reverse("portal:programme", args=["dibao"]))
    for url in public:
        response = browser.get(url)
        assert response.status_code == 200, url
        assert not no_store(response), f"{url}: {response.headers.get('Cache-Control')}"
        assert csp(response)["frame-ancestors"] == ["'none'"], url
    browser.force_login(bob)  # the same pages in a staff member's browser: not kept
    for url in public:
        assert no_store(browser.get(url)), url


def test_the_admin_is_never_stored_either(browser):
    assert no_store(browser.get("/admin/login/"))


def test_the_settings_under_test_are_production_ones(production):
    assert django_settings.SECURE_SSL_REDIRECT is True and django_settings.SESSION_COOKIE_SECURE is True
    assert "ejia.core.headers.PrivacyHeadersMiddleware" in django_settings.MIDDLEWARE
    assert "ejia.core.headers.ContentSecurityPolicyMiddleware" in django_settings.MIDDLEWARE
