"""Settings for e家大救助, driven by the environment.

Development and tests use the embedded SQLite database by default; production sets
DATABASE_URL=postgres://… and the secrets below (see README, "Production").
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("EJIA_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Development values only: production settings refuse to start without real secrets.
DEV_SECRET = "dev-only-secret-key-not-for-production-ejia-0000000000000000000000"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEV_SECRET)
DEBUG = env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Django's admin with the platform's site: superusers past the second factor only.
    "ejia.accounts.admin_site.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "ejia.core",
    "ejia.accounts",
    "ejia.catalogue",
    "ejia.registry",
    "ejia.cases",
    "ejia.cases.workflow",
    "ejia.verification",
    "ejia.disbursement",
    "ejia.discovery",
    "ejia.portal",
    "ejia.demo",
    "ejia.api",
    "ejia.dashboards",
    # django-ninja: only for its vendored Swagger UI files (the API docs page loads no CDN).
    "ninja",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Security headers on every answer but static files (ejia/core/headers.py, settings at the end).
    "ejia.core.headers.ContentSecurityPolicyMiddleware",
    "ejia.core.headers.PrivacyHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "ejia.core.middleware.ChosenLanguageOnlyMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Messages before the staff guards below, so that they can say why they sent someone away.
    "django.contrib.messages.middleware.MessageMiddleware",
    # request.user.is_verified(): the session passed the second factor (django-otp).
    "django_otp.middleware.OTPMiddleware",
    # Then, in this order: the idle and absolute limits of a staff session (ejia/accounts/sessions.py),
    # the second factor, a password an administrator chose (ejia/accounts/middleware.py).
    "ejia.accounts.sessions.StaffSessionMiddleware",
    "ejia.accounts.middleware.SecondFactorRequiredMiddleware",
    "ejia.accounts.middleware.PasswordChangeRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that it sees the exceptions of the views themselves.
    "ejia.core.errors.RefusalMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "ejia" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ejia.core.context_processors.platform",
                "ejia.accounts.context_processors.capabilities",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'ejia.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web server and the task worker share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# ModelBackend reading the signed-in user with the unit and division the access policy needs.
AUTHENTICATION_BACKENDS = ["ejia.accounts.backends.StaffBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed-login throttling: this many failures per username in the window lock it out.
LOGIN_FAILURE_LIMIT = int(os.environ.get("EJIA_LOGIN_FAILURE_LIMIT", "5"))
LOGIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("EJIA_LOGIN_FAILURE_WINDOW", "900"))
# ---- throttling behind a proxy (ejia.accounts.throttle) ----
# The reverse proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For names the
# client; a request from any other peer is counted under its own address. Empty: no proxy.
EJIA_TRUSTED_PROXIES = env_list("EJIA_TRUSTED_PROXIES")
for _proxy in EJIA_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"EJIA_TRUSTED_PROXIES: {_exc}") from None
# Past LOGIN_FAILURE_LIMIT × 4 failures from one address in the window, that address waits this
# long after each failure before its next try: it slows a guesser, and never locks an account.
LOGIN_ADDRESS_PAUSE_SECONDS = int(os.environ.get("EJIA_LOGIN_ADDRESS_PAUSE", "10"))
# ---- end throttling behind a proxy ----

# ---- second factor and staff sessions (ejia.accounts.second_factor, ejia.accounts.middleware) ----
# Every /staff/ page needs a session that passed a TOTP code (or a recovery code) after the
# password. Production refuses to start with this off (config/settings_production.py).
EJIA_STAFF_SECOND_FACTOR = env_bool("EJIA_STAFF_SECOND_FACTOR", True)
OTP_TOTP_ISSUER = "e家大救助"
# django-otp's own per-device delay is off: wrong codes are counted by ejia.accounts.throttle,
# per account ("otp:<username>") and per address, like passwords.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# /admin/ (Django's model admin) answers only when this is on, and then only to superusers whose
# session passed the second factor. Production default: off.
EJIA_ADMIN_ENABLED = env_bool("EJIA_ADMIN_ENABLED", True)
# ---- end second factor and staff sessions ----

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = Path(os.environ.get("EJIA_MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"
STORAGES = {
    # Uploads are sealed at rest and served only through scope-checked views (ejia/core/storage.py).
    "default": {"BACKEND": "ejia.core.storage.SealedFileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Uploads (ID card photos, signed authorisations, department files) are bounded.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Staff sessions (ejia.accounts.sessions) end when the browser closes (the login makes the cookie
# a browser-session one), after EJIA_SESSION_IDLE_MINUTES without work, and
# EJIA_SESSION_ABSOLUTE_HOURS after the login whatever the activity.
EJIA_SESSION_IDLE_MINUTES = int(os.environ.get("EJIA_SESSION_IDLE_MINUTES", "30"))
EJIA_SESSION_ABSOLUTE_HOURS = int(os.environ.get("EJIA_SESSION_ABSOLUTE_HOURS", "8"))
SESSION_COOKIE_AGE = EJIA_SESSION_ABSOLUTE_HOURS * 3600
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # templates pass the token to htmx through hx-headers
X_FRAME_OPTIONS = "DENY"

TASKS = {
    "default": {
        "BACKEND": os.environ.get("EJIA_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "verification", "bulk"],
    }
}

# How the 主动发现 scan and the what-if read the registry and the snapshots into Parquet:
# "sql" (set-based, ejia/discovery/bulk_export.py) or "python" (one household at a time,
# ejia/discovery/export.py). Both write the same rows (ejia/discovery/tests/test_export_sql.py).
EJIA_DISCOVERY_EXPORT = os.environ.get("EJIA_DISCOVERY_EXPORT", "sql")
if EJIA_DISCOVERY_EXPORT not in ("sql", "python"):
    raise ImproperlyConfigured(f"EJIA_DISCOVERY_EXPORT: “{EJIA_DISCOVERY_EXPORT}” is neither sql nor python")

# Keys for sensitive data. Each has an id so that keys can be rotated: new data is written
# with EJIA_FIELD_KEY_ID, old ciphertexts name the key they were written with.
# Development keys are derived from a fixed string; production must set real ones.
EJIA_FIELD_KEYS = os.environ.get(
    "EJIA_FIELD_KEYS", "k1:ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLWxvbmc="
)  # "id:base64(32 bytes)[,id:base64…]"
EJIA_FIELD_KEY_ID = os.environ.get("EJIA_FIELD_KEY_ID", "k1")
EJIA_BLIND_INDEX_KEY = os.environ.get("EJIA_BLIND_INDEX_KEY", "dev-only-blind-index-key")
EJIA_AUDIT_KEY = os.environ.get("EJIA_AUDIT_KEY", "dev-only-audit-chain-key")
# The audit chain's head (sequence and hash) is also written here, outside the database,
# so that deleting the newest entries is detected.
EJIA_AUDIT_ANCHOR_FILE = Path(os.environ.get("EJIA_AUDIT_ANCHOR_FILE", VAR_DIR / "audit-anchor.json"))
# The API access log (ejia.core.audit) is kept this many days, then deleted by whole sealed
# batches by `manage.py ejia_access_purge` (daily). 网络安全法 Art. 21(3) keeps network logs at
# least six months (184 days at most: the purge refuses less); PIPL Art. 19 keeps personal
# information no longer than needed. 190 = the six months plus a week's margin (docs/api.md).
EJIA_ACCESS_RETENTION_DAYS = int(os.environ.get("EJIA_ACCESS_RETENTION_DAYS", "190"))
# The seal job runs every minute: an access event still unsealed after this many minutes means
# it has stopped, and the auditor and the system administrator get a work item (封存中断).
EJIA_ACCESS_SEAL_ALERT_MINUTES = int(os.environ.get("EJIA_ACCESS_SEAL_ALERT_MINUTES", "10"))
# Operations checks (ejia/core/health.py): a ready background task waiting longer than this means
# the worker stopped; a nightly job (audit verify, invariants, access purge) not run for this long
# was dropped from cron. Both become the system administrator's work item.
EJIA_TASK_STALL_MINUTES = int(os.environ.get("EJIA_TASK_STALL_MINUTES", "15"))
EJIA_NIGHTLY_JOB_HOURS = int(os.environ.get("EJIA_NIGHTLY_JOB_HOURS", "26"))

EJIA_SITE_URL = os.environ.get("EJIA_SITE_URL", "http://127.0.0.1:8000")

# Every handler masks ID numbers (ejia.core.logging). Django's own defaults are replaced for
# the "django" logger (its console and mail_admins handlers do not mask; records go to the
# root instead) and for runserver's request log "django.server" (a request line can hold an
# ID number). Gunicorn's logs: config/gunicorn.conf.py.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_id_numbers": {"()": "ejia.core.logging.MaskIdNumbersFilter"}},
    "formatters": {
        "django.server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"}
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["mask_id_numbers"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["mask_id_numbers"],
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("EJIA_LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}

# ---- registry & intake (ejia.registry, ejia.cases) ----
# The local ID card reader service that certified readers ship (answers JSON with name,
# id_number, sex, birth_date, address). The default is the app's own mock, served only
# in DEBUG or when EJIA_ID_READER_MOCK is on.
EJIA_ID_READER_URL = os.environ.get("EJIA_ID_READER_URL", "/staff/cases/id-reader/mock/")
EJIA_ID_READER_MOCK = env_bool("EJIA_ID_READER_MOCK", False)
# A synthetic card (valid check digit, no real person).
EJIA_ID_READER_MOCK_CARD = {
    "name": "王建国",
    "id_number": "371602196203081232",
    "sex": "男",
    "birth_date": "1962-03-08",
    "address": "山东省滨州市滨城区市中街道黄河二路1号",
}
# Text messages to citizens: a class with send(phone, text). The default writes to the
# console and to EJIA_SMS_LOG_FILE; production names its gateway adapter here.
EJIA_SMS_BACKEND = os.environ.get("EJIA_SMS_BACKEND", "ejia.core.sms.ConsoleFileBackend")
EJIA_SMS_LOG_FILE = Path(os.environ.get("EJIA_SMS_LOG_FILE", VAR_DIR / "sms.log"))
# Where citizens track a case (the receipt's QR code points here, + "?ref=<reference>").
EJIA_TRACKING_PATH = os.environ.get("EJIA_TRACKING_PATH", "/track/")
# ---- end registry & intake ----

# ---- open API (ejia.api, docs/api.md) ----
# The key that signs API access tokens (JWT, EdDSA): an Ed25519 private key in PEM. Production
# sets it (settings_production requires it); in development it is generated once into VAR_DIR.
EJIA_API_SIGNING_KEY = os.environ.get("EJIA_API_SIGNING_KEY", "")
EJIA_API_SIGNING_KEY_FILE = Path(os.environ.get("EJIA_API_SIGNING_KEY_FILE", VAR_DIR / "api_signing_key.pem"))
EJIA_API_TOKEN_SECONDS = int(os.environ.get("EJIA_API_TOKEN_SECONDS", "600"))
EJIA_API_ISSUER = os.environ.get("EJIA_API_ISSUER", "ejia")
# Kept answers of idempotent POSTs are replayed this long.
EJIA_API_IDEMPOTENCY_HOURS = int(os.environ.get("EJIA_API_IDEMPOTENCY_HOURS", "24"))
EJIA_API_CITIZEN_TOKEN_SECONDS = int(os.environ.get("EJIA_API_CITIZEN_TOKEN_SECONDS", "1800"))
# How long a worker process remembers who a token is (ejia.api.credentials): a client disabled,
# a citizen logged out or a service account deactivated in another process stops working here
# at most this many seconds later (at once in the process that made the change). 0: off.
EJIA_API_AUTH_CACHE_SECONDS = int(os.environ.get("EJIA_API_AUTH_CACHE_SECONDS", "5"))
# DCI exchanges that are over (delivered callbacks, finished transactions, ended subscriptions)
# are deleted after this many days by `manage.py ejia_dci_purge` (daily); failed callbacks stay
# until handled (docs/dci.md, "Retention").
EJIA_DCI_RETENTION_DAYS = int(os.environ.get("EJIA_DCI_RETENTION_DAYS", "90"))
# ---- end open API ----

# ---- security headers (ejia.core.headers: CSP, Permissions-Policy, no-store) ----
# In every environment, so that the demo, the tests and the browser journeys run under the
# policy production sends. Everything the pages load is our own (static/vendor, no CDN); no
# inline script, style attribute or <style> in any template (ejia/core/tests/test_headers.py).
# `data:` images are Bootstrap's SVG icons inside its CSS (select arrows, check marks).
# The ID card reader is a service on the clerk's own PC when EJIA_ID_READER_URL names one.
_reader = urlsplit(EJIA_ID_READER_URL)
_ID_READER_ORIGIN = [f"{_reader.scheme}://{_reader.netloc}"] if _reader.scheme and _reader.netloc else []
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'", *_ID_READER_ORIGIN],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Browser features no page uses, off for every origin. The ID photo at the window is taken with
# <input type="file" capture>, the phone's own camera app, which needs no camera permission.
EJIA_PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
# Responses under these paths are never stored by a browser or proxy, whoever asks; so is every
# response to a signed-in staff member, wherever it is.
EJIA_NO_STORE_PATH_PREFIXES = ("/staff/", "/admin/", "/track/", "/apply/", "/check/", "/api/")
# ---- end security headers ----

# The population the catalogue editor's live qualifying count runs over: a module with
# cache_key() and load() (ejia/demo/population.py documents the contract). Today the synthetic
# demo city; a deployment names its own export of the registry here.
EJIA_COUNT_POPULATION = os.environ.get("EJIA_COUNT_POPULATION", "ejia.demo.population")
