"""Self-check answers live in a signed cookie on the person's own device.

The promise is "nothing is stored unless you apply": the answers (income, illness,
disability) never reach the database — not even the session table. The cookie is signed so
that it cannot be forged into a strange shape, expires with the browser session, and is
refused after two hours.
"""

from __future__ import annotations

from django.core import signing

from ejia.portal.questions import Answers

COOKIE = "ejia_selfcheck"
SALT = "ejia.portal.selfcheck"
MAX_AGE_SECONDS = 2 * 3600


def answers_load(request) -> Answers:
    raw = request.COOKIES.get(COOKIE)
    if not raw:
        return {}
    try:
        data = signing.loads(raw, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        return {}
    return data if isinstance(data, dict) else {}


def answers_save(request, response, answers: Answers) -> None:
    response.set_cookie(
        COOKIE,
        signing.dumps(answers, salt=SALT, compress=True),
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )


def answers_clear(response) -> None:
    response.delete_cookie(COOKIE, samesite="Lax")
