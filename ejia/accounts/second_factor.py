"""The staff second factor: a TOTP authenticator app (django-otp's TOTPDevice) and ten
one-time recovery codes (a StaticDevice), asked after the password on every staff login.

- Enrolment: the page shows a fresh secret (QR code and text) kept in the session only; the
  device is written when the person proves their app has it by typing a code.
- Verification: a six-digit code from the app, or one recovery code (used up by it). A code
  the device has accepted before is refused (django-otp keeps the last accepted time step).
- Failures are counted by `ejia.accounts.throttle` like passwords: per account under the name
  "otp:<username>" (a lock after LOGIN_FAILURE_LIMIT in the window) and per address (a pause).
- A system administrator resets someone's second factor (lost phone) with a stated reason; the
  person enrols again at their next login.

Every outcome is in the audit log: staff.otp_enrolled / verified / failed / recovery_used / reset.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key

from ejia.accounts import throttle
from ejia.accounts.models import User
from ejia.accounts.policies import Capability, require
from ejia.core.audit import audit_record

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "身份验证器"
RECOVERY_DEVICE_NAME = "恢复码"
REASON_MIN, REASON_MAX = 4, 300
_TOTP_RE = re.compile(r"^\d{6}$")
_RECOVERY_RE = re.compile(r"^[a-z0-9]{6,16}$")


def throttle_name(username: str) -> str:
    """The name failures of the second factor are counted under (apart from the password's)."""
    return f"otp:{username}"


def totp_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def is_enrolled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


# ---------------------------------------------------------------- enrolment page


def new_secret() -> str:
    """A fresh 20-byte secret as hex (django-otp's own generator)."""
    return default_key()


def secret_text(key_hex: str) -> str:
    """The secret as the authenticator apps type it: base32 in groups of four."""
    text = base64.b32encode(binascii.unhexlify(key_hex)).decode()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def provisioning_uri(user: User, key_hex: str) -> str:
    """The otpauth:// address the QR code carries (issuer and account name included)."""
    return TOTPDevice(user=user, key=key_hex, name=TOTP_DEVICE_NAME).config_url


def qr_svg(data: str) -> str:
    """An SVG QR code drawn on the server (no script, no style attribute, no outside service)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    out = io.BytesIO()
    image.save(out)
    svg = out.getvalue().decode()
    # Drop the XML prolog: the SVG goes inline into the page.
    return svg[svg.index("<svg") :]


# ---------------------------------------------------------------- services


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    recovery_codes: list[str]


def _clean_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def _refuse_if_throttled(user: User, ip: str | None) -> None:
    wait = throttle.address_wait(ip)
    if wait:
        raise ValidationError(_("此网络地址验证失败次数较多，请%(seconds)s秒后再试。") % {"seconds": wait})
    if throttle.is_locked(throttle_name(user.username)):
        raise ValidationError(_("验证码错误次数过多，请15分钟后再试，或请系统管理员重置双因素认证。"))


def _failed(user: User, ip: str | None, *, stage: str) -> None:
    throttle.record_failure(throttle_name(user.username), ip)
    audit_record(actor=user, action="staff.otp_failed", obj=user, data={"stage": stage, "ip": ip})


def _wrong_code() -> ValidationError:
    return ValidationError(_("验证码不正确或已使用过，请输入身份验证器上当前显示的6位数字。"))


def _new_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = []
    while len(codes) < RECOVERY_CODE_COUNT:
        token = StaticToken.random_token()
        if token not in codes:
            codes.append(token)
    StaticToken.objects.bulk_create([StaticToken(device=device, token=token) for token in codes])
    return codes


def second_factor_enrol(*, user_id: int, key_hex: str, code: str, ip: str | None) -> Enrolment:
    """The person proves their authenticator app holds `key_hex` (the secret their enrolment
    page showed) with a current code; the device is saved confirmed, with ten new recovery
    codes, returned once and stored only as django-otp keeps them."""
    code = _clean_code(code)
    enrolment = None
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        _refuse_if_throttled(user, ip)
        if is_enrolled(user):
            raise ValidationError(_("您已启用双因素认证，请输入身份验证器上的验证码。"))
        totp = TOTP(binascii.unhexlify(key_hex), step=30, t0=0, digits=6, drift=0)
        totp.time = time.time()
        if _TOTP_RE.match(code) and totp.verify(int(code), tolerance=1):
            device = TOTPDevice.objects.create(
                user=user, name=TOTP_DEVICE_NAME, key=key_hex, confirmed=True, last_t=totp.t()
            )
            enrolment = Enrolment(device=device, recovery_codes=_new_recovery_codes(user))
            throttle.clear_failures(throttle_name(user.username))
            audit_record(
                actor=user,
                action="staff.otp_enrolled",
                obj=user,
                data={"ip": ip, "recovery_codes": RECOVERY_CODE_COUNT},
            )
        else:
            _failed(user, ip, stage="enrol")
    # Outside the transaction: the failure stays counted and audited.
    if enrolment is None:
        raise _wrong_code()
    return enrolment


def second_factor_verify(*, user_id: int, code: str, ip: str | None) -> TOTPDevice | StaticDevice:
    """Check a code from the app (six digits) or a recovery code (used up); returns the device
    that accepted it, for `django_otp.login`. A wrong, replayed or used-up code is counted."""
    code = _clean_code(code)
    accepted = None
    with transaction.atomic():
        # The user's row lock serialises two tries of one person: a code is accepted once.
        user = User.objects.select_for_update().get(pk=user_id)
        _refuse_if_throttled(user, ip)
        device = totp_device(user)
        if device is None:
            raise ValidationError(_("您尚未启用双因素认证，请先扫码绑定身份验证器。"))
        if _TOTP_RE.match(code):
            if device.verify_token(code):
                accepted = device
                audit_record(actor=user, action="staff.otp_verified", obj=user, data={"ip": ip, "method": "totp"})
        elif _RECOVERY_RE.match(code):
            recovery = StaticDevice.objects.filter(user=user, confirmed=True).first()
            if recovery is not None and recovery.verify_token(code):
                accepted = recovery
                audit_record(
                    actor=user,
                    action="staff.otp_recovery_used",
                    obj=user,
                    data={"ip": ip, "left": recovery.token_set.count()},
                )
        if accepted is None:
            _failed(user, ip, stage="verify")
        else:
            throttle.clear_failures(throttle_name(user.username))
    if accepted is None:
        raise _wrong_code()
    return accepted


@transaction.atomic
def second_factor_reset(*, actor: User, user_id: int, reason: str) -> User:
    """A system administrator removes someone's authenticator and recovery codes (a lost or
    changed phone). Sessions that passed with them are no longer verified; the person enrols
    again at their next login. The reason goes into the audit log."""
    from ejia.accounts.services import _locked_staff

    require(actor, Capability.ACCOUNTS_ADMIN)
    reason = " ".join((reason or "").split())
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise ValidationError(
            _("请用%(min)s至%(max)s字说明重置原因（如：本人手机丢失，已当面核实身份）。")
            % {"min": REASON_MIN, "max": REASON_MAX}
        )
    user = _locked_staff(actor, user_id)
    if user.pk == actor.pk:
        raise ValidationError(_("不能重置自己的双因素认证，请由另一位系统管理员办理。"))
    removed_totp, _by_model = TOTPDevice.objects.filter(user=user).delete()
    removed_static, _by_model = StaticDevice.objects.filter(user=user).delete()
    if not removed_totp and not removed_static:
        raise ValidationError(_("该账号尚未启用双因素认证，无需重置。"))
    throttle.clear_failures(throttle_name(user.username))
    audit_record(actor=actor, action="staff.otp_reset", obj=user, reason=reason, data={"username": user.username})
    return user
