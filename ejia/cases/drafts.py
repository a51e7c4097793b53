"""The intake form in progress: one encrypted JSON document per staff member.

Shape of `data`:
    {"channel": "window", "applicant": "<member key>", "household_id": "<uuid>"|None,
     "division_code": "<village>", "address": "", "hukou_number": "", "phone": "",
     "bank_name": "", "account_number": "",
     "members": [{"key", "id_number", "name", "relation", "phone", "source", "facts": {...}}],
     "household_facts": {...}, "needs": [...], "needs_note": "",
     "plan": [...], "plan_date": "YYYY-MM-DD", "programmes": [...],
     "auth": {"<member key>": {"method", "file", "signed_at"}},
     "proxy_consent": bool, "proxy_signature": "<file>", "materials_received": [...]}
"""

from __future__ import annotations

import json
import uuid

from django.db import transaction

from ejia.cases.models import Channel, IntakeDraft
from ejia.core import crypto

PURPOSE = "cases.intake_draft"
STEPS = ("start", "household", "needs", "plan", "authorise", "materials")


def new_member_key() -> str:
    return uuid.uuid4().hex[:12]


def _owner(user, phone: str) -> dict:
    return {"user": user} if user is not None else {"phone": phone, "user__isnull": True}


def draft_get(*, user=None, phone: str = "") -> IntakeDraft | None:
    return IntakeDraft.objects.filter(**_owner(user, phone)).first()


def draft_data(draft: IntakeDraft | None) -> dict:
    if draft is None or not draft.data_ciphertext:
        return {}
    return json.loads(crypto.decrypt(draft.data_ciphertext, purpose=PURPOSE))


def draft_start(*, user=None, phone: str = "", channel: str, data: dict, step: str = "household") -> IntakeDraft:
    """Begin a new application, replacing any unfinished one of this user (or citizen's phone)."""
    with transaction.atomic():
        IntakeDraft.objects.filter(**_owner(user, phone)).delete()
        return IntakeDraft.objects.create(
            user=user,
            phone=phone if user is None else "",
            channel=channel or Channel.WINDOW,
            step=step,
            data_ciphertext=crypto.encrypt(json.dumps(data, ensure_ascii=False), purpose=PURPOSE),
            idempotency_key=uuid.uuid4().hex,
        )


def draft_save(*, draft: IntakeDraft, data: dict, step: str | None = None) -> None:
    draft.data_ciphertext = crypto.encrypt(json.dumps(data, ensure_ascii=False), purpose=PURPOSE)
    fields = ["data_ciphertext", "updated_at"]
    if step:
        draft.step = step
        fields.append("step")
    draft.save(update_fields=fields)


def draft_discard(*, user=None, phone: str = "") -> None:
    IntakeDraft.objects.filter(**_owner(user, phone)).delete()
