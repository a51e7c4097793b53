"""Test settings: fast hashing, tasks run immediately, artefacts under test-artifacts/."""

import os

from config.settings import *  # noqa: F403
from config.settings import BASE_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TASKS = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "verification", "bulk"],
    }
}
TEST_ARTIFACTS_DIR = BASE_DIR / "test-artifacts"
# Playwright's sync API runs an event loop in the test thread; the ORM calls in the same
# test are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
LOGIN_FAILURE_LIMIT = 5
# ---- registry & intake ----
EJIA_ID_READER_MOCK = True
MEDIA_ROOT = BASE_DIR / "test-artifacts" / "media"
EJIA_SMS_BACKEND = "ejia.core.sms.MemoryBackend"
# ---- end registry & intake ----
