"""Citizens follow their case: by reference number + last 6 characters of the ID number, or
by logging in with the phone number given at intake and a one-time SMS code."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from ejia.accounts import throttle
from ejia.cases.models import Case, SmsCode
from ejia.cases.selectors import LIST_DEFERRED
from ejia.core import crypto
from ejia.core.sms import mask_phone, normalise_mobile, sms_send
from ejia.core.workdays import WorkCalendar
from ejia.registry.models import ID_PURPOSE, Household
from ejia.registry.selectors import REFERENCE_RE

logger = logging.getLogger("ejia.sms")
CODE_TTL = dt.timedelta(minutes=5)
RESEND_AFTER = dt.timedelta(seconds=60)
MAX_PER_HOUR = 5
MAX_ATTEMPTS = 5


class TrackingError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _hash(phone: str, code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"sms\x00{phone}\x00{code}".encode(), hashlib.sha256).hexdigest()


def normalise_phone(raw: str) -> str:
    phone = normalise_mobile(raw)
    if not phone:
        raise TrackingError("请输入11位手机号码。")
    return phone


def sms_code_send(*, phone: str) -> None:
    """Send a one-time login code. Unlike every other message to a citizen it does not go
    through the outbox: only the code's hash is stored (an outbox row would keep it readable
    on the staff outbox page), and a code that arrives late is useless. So it is sent right
    after the code is stored, and a gateway failure is told to the citizen at once; the code
    is then withdrawn, so that asking again is not blocked by the 60-second wait."""
    phone = normalise_phone(phone)
    now = timezone.now()
    with transaction.atomic():
        recent = SmsCode.objects.select_for_update().filter(phone=phone, created_at__gte=now - dt.timedelta(hours=1))
        if recent.filter(created_at__gte=now - RESEND_AFTER).exists():
            raise TrackingError("验证码已发送，请60秒后再试。")
        if recent.count() >= MAX_PER_HOUR:
            raise TrackingError("获取验证码过于频繁，请一小时后再试。")
        code = f"{secrets.randbelow(10**6):06d}"
        stored = SmsCode.objects.create(phone=phone, code_hash=_hash(phone, code), expires_at=now + CODE_TTL)
    try:
        sms_send(phone=phone, text=f"【e家大救助】您的验证码是{code}，5分钟内有效。请勿告诉他人。")
    except Exception:
        logger.exception("login code SMS to %s failed", mask_phone(phone))
        SmsCode.objects.filter(pk=stored.pk).delete()
        raise TrackingError("短信发送失败，请稍后重新获取验证码。") from None


def sms_code_verify(*, phone: str, code: str) -> str:
    """The normalised phone if the code is right; a Chinese TrackingError otherwise."""
    phone = normalise_phone(phone)
    with transaction.atomic():
        sent = SmsCode.objects.select_for_update().filter(phone=phone, used_at__isnull=True).first()
        if sent is None or sent.expires_at < timezone.now():
            raise TrackingError("验证码已过期，请重新获取。")
        if sent.attempts >= MAX_ATTEMPTS:
            raise TrackingError("验证码输错次数过多，请重新获取。")
        if not hmac.compare_digest(sent.code_hash, _hash(phone, (code or "").strip())):
            sent.attempts += 1
            sent.save(update_fields=["attempts"])
            raise TrackingError("验证码不正确。")
        sent.used_at = timezone.now()
        sent.save(update_fields=["used_at"])
    return phone


def case_track(*, reference: str, id_last6: str) -> Case:
    """The case if the reference and the applicant's last 6 ID characters match.

    Failures are counted per reference, never per address: behind the proxy, or in a family
    sharing a phone's network, one address is many citizens, and a guesser gains nothing by
    changing address (each reference allows LOGIN_FAILURE_LIMIT tries in the window)."""
    match = REFERENCE_RE.match(reference or "")
    if not match:
        raise TrackingError("受理号格式不正确，应为“县区代码-日期-序号”，如 371602-20260501-0001。")
    reference = "-".join(match.groups())
    key = f"track:{reference}"
    if throttle.is_locked(key):
        raise TrackingError("该受理号查询失败次数过多，请15分钟后再试。")
    case = Case.objects.select_related("applicant").filter(reference=reference).first()
    last6 = (id_last6 or "").strip().upper()
    number = crypto.decrypt(case.applicant.id_number_ciphertext, purpose=ID_PURPOSE) if case else ""
    if case is None or len(last6) != 6 or not hmac.compare_digest(number[-6:], last6):
        throttle.record_failure(key, None)
        raise TrackingError("受理号或身份证号码后6位不正确。")
    return case


def cases_for_phone(phone: str):
    return (
        Case.objects.filter(phone=phone)
        .select_related("applicant", "window")
        .defer(*LIST_DEFERRED)  # what a citizen's lists never show
        .order_by("-submitted_at")
    )


@dataclass
class Stage:
    name: str
    note: str
    date: dt.date | None  # done on
    expected: dt.date | None  # expected by
    current: bool = False


def case_stages(case: Case, calendar: WorkCalendar | None = None) -> list[Stage]:
    """Named stages with expected dates (社会救助暂行办法 and DOMAIN §2.4 time limits). A list
    of cases passes one `calendar` for all of them."""
    accepted = timezone.localtime(case.submitted_at).date()
    add_working_days = (calendar or WorkCalendar.load()).add_working_days  # weekends, holidays and 调休 days
    return [
        Stage("受理", "窗口已接收申请，给出受理号", accepted, accepted),
        Stage("调查核实", "核对家庭经济状况，必要时入户调查", None, add_working_days(accepted, 15), current=True),
        Stage("公示", "在村（社区）公示7天", None, add_working_days(accepted, 22)),
        Stage("审核确认", "县级审核确认，结果短信通知", None, add_working_days(accepted, 30)),
        Stage("发放", "按月打入家庭一卡通账户", None, None),
    ]


def households_for_phone(phone: str):
    """The households a verified phone applied for: what its owner may read of decisions and
    payments (the citizen's own household, as the portal's 我的申请 knows them)."""
    return (
        Household.objects.filter(pk__in=Case.objects.filter(phone=phone).values("household"))
        .select_related("division")
        .order_by("pk")
    )


def household_for_phone(*, phone: str, public_id):
    """One of the phone's households; anyone else's household is not found (404), like a case."""
    return get_object_or_404(households_for_phone(phone), public_id=public_id)
