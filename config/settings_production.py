"""Production settings: everything secret comes from the environment, HTTPS only.

DJANGO_SETTINGS_MODULE=config.settings_production
"""

import os

from django.core.exceptions import ImproperlyConfigured

from config.settings import *  # noqa: F403
from config.settings import DEV_SECRET, env_bool


def _require(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"Production needs the environment variable {name}.")
    return value


DEBUG = False
SECRET_KEY = _require("DJANGO_SECRET_KEY")
if SECRET_KEY == DEV_SECRET:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is the development key.")
EJIA_FIELD_KEYS = _require("EJIA_FIELD_KEYS")
EJIA_BLIND_INDEX_KEY = _require("EJIA_BLIND_INDEX_KEY")
EJIA_AUDIT_KEY = _require("EJIA_AUDIT_KEY")
# The API token signing key (Ed25519 private key, PEM): never the generated development file.
EJIA_API_SIGNING_KEY = _require("EJIA_API_SIGNING_KEY")
# Staff work on shared township PCs: a password alone is not enough.
EJIA_STAFF_SECOND_FACTOR = env_bool("EJIA_STAFF_SECOND_FACTOR", True)
if not EJIA_STAFF_SECOND_FACTOR:
    raise ImproperlyConfigured("EJIA_STAFF_SECOND_FACTOR is off: production requires the staff second factor.")
EJIA_ADMIN_ENABLED = env_bool("EJIA_ADMIN_ENABLED", False)

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The load balancer probes the backends over plain HTTP: its probes are not redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
STORAGES = {
    # Uploads are sealed at rest and served only through scope-checked views (ejia/core/storage.py).
    "default": {"BACKEND": "ejia.core.storage.SealedFileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
