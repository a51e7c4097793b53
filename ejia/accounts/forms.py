from django import forms
from django.contrib.auth import authenticate
from django.utils.translation import gettext_lazy as _

from ejia.accounts import throttle
from ejia.accounts.models import OrgUnit, Role, User
from ejia.accounts.role_rules import lockout_problems, role_problems
from ejia.accounts.selectors import units_for_admin
from ejia.accounts.services import password_suggest, password_validate


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("用户名"), max_length=150, widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"})
    )
    password = forms.CharField(
        label=_("密码"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, request, *args, **kwargs):
        self.request = request
        self.user = None
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        username = data.get("username", "").strip()
        password = data.get("password", "")
        if not username or not password:
            return data
        ip = throttle.client_ip(self.request)
        # Many failures from this address: a short pause for the address, not a lock of anyone.
        wait = throttle.address_wait(ip)
        if wait:
            raise forms.ValidationError(
                _("此网络地址登录失败次数较多，请%(seconds)s秒后再试。"), code="slow", params={"seconds": wait}
            )
        if throttle.is_locked(username):
            raise forms.ValidationError(_("登录失败次数过多，请15分钟后再试，或联系系统管理员。"), code="locked")
        user = authenticate(self.request, username=username, password=password)
        if user is None:
            throttle.record_failure(username, ip)
            raise forms.ValidationError(_("用户名或密码不正确。"), code="invalid")
        if user.unit_id is None and not user.is_superuser:
            raise forms.ValidationError(_("该账号未分配所属单位，请联系系统管理员。"), code="no_unit")
        self.user = user
        return data


class SecondFactorCodeForm(forms.Form):
    """Six digits from the authenticator app (or, when verifying, one recovery code)."""

    code = forms.CharField(
        label=_("验证码"),
        max_length=32,
        error_messages={"required": _("请输入身份验证器上显示的6位验证码。")},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class SecondFactorResetForm(forms.Form):
    reason = forms.CharField(
        label=_("重置原因"),
        min_length=4,
        max_length=300,
        error_messages={
            "required": _("请说明重置原因（如：本人手机丢失，已当面核实身份）。"),
            "min_length": _("请用4至300字说明重置原因（如：本人手机丢失，已当面核实身份）。"),
        },
    )


# ---------------------------------------------------------------- account administration

USERNAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,29}$"
# A mobile number, or a landline with its area code (0543-3161234, extension allowed).
PHONE_RE = r"^(1\d{10}|0\d{2,3}-?\d{7,8}(-\d{1,6})?)$"


class UnitChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: OrgUnit) -> str:
        return f"{obj.name}（{obj.division.full_name} · {obj.get_kind_display()}）"


class StaffAccountForm(forms.Form):
    """What an administrator sets on an account: name, phone, unit and roles. The unit is
    chosen among the units of the administrator's area only; the roles must fit the unit."""

    display_name = forms.CharField(label=_("姓名"), max_length=40)
    phone = forms.RegexField(
        label=_("联系电话"),
        regex=PHONE_RE,
        required=False,
        error_messages={"invalid": _("请填写11位手机号码，或带区号的固定电话（如 0543-3161234）。")},
    )
    unit = UnitChoiceField(
        label=_("所属单位"),
        queryset=OrgUnit.objects.none(),
        error_messages={
            "required": _("请选择所属单位。"),
            "invalid_choice": _("所选单位不存在，或不在您的账号管理范围内。"),
        },
    )
    roles = forms.MultipleChoiceField(
        label=_("角色"),
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("请至少选择一个角色。"), "invalid_choice": _("没有这个角色：%(value)s。")},
    )

    def __init__(self, *args, admin: User, **kwargs):
        self.admin = admin
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units_for_admin(user=admin)
        self.fields["display_name"].error_messages["required"] = _("请填写姓名。")

    def clean_display_name(self) -> str:
        return " ".join(self.cleaned_data["display_name"].split())

    def clean(self):
        data = super().clean()
        if "unit" in data and "roles" in data:
            for problem in role_problems(unit=data["unit"], roles=data["roles"]):
                self.add_error("roles", problem)
        return data


class InitialPasswordField(forms.CharField):
    """The password an administrator gives a person: shown in clear to the administrator (they
    hand it over), suggested fresh each time the form opens, changed by the person at once."""

    def __init__(self, **kwargs):
        super().__init__(
            label=_("初始密码"),
            strip=False,
            max_length=128,
            widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "font-monospace"}),
            help_text=_(
                "已随机生成，可改为自定的密码（至少10位，不能全是数字或过于常见）。该账号首次登录时须修改密码。"
            ),
            error_messages={"required": _("请填写初始密码。")},
            **kwargs,
        )


class StaffCreateForm(StaffAccountForm):
    username = forms.RegexField(
        label=_("用户名"),
        regex=USERNAME_RE,
        error_messages={
            "required": _("请填写用户名。"),
            "invalid": _("用户名为3至30位字母、数字、下划线、点或连字符，以字母或数字开头。"),
        },
    )
    password = InitialPasswordField()
    field_order = ["username", "display_name", "phone", "unit", "roles", "password"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("password", password_suggest())

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("该用户名已被使用。"), code="taken")
        return username

    def clean(self):
        data = super().clean()
        password = data.get("password")
        if password:
            # The similarity check compares with the new person's name and username.
            candidate = User(username=data.get("username", ""), display_name=data.get("display_name", ""))
            try:
                password_validate(password, candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return data


class StaffEditForm(StaffAccountForm):
    is_active = forms.BooleanField(
        label=_("账号启用"),
        required=False,
        help_text=_("停用后该账号不能登录，已登录的会话随即失效；账号和经办记录都保留。"),
    )

    def __init__(self, *args, user: User, **kwargs):
        self.user = user
        kwargs.setdefault(
            "initial",
            {
                "display_name": user.display_name,
                "phone": user.phone,
                "unit": user.unit_id,
                "roles": sorted(user.role_codes),
                "is_active": user.is_active,
            },
        )
        super().__init__(*args, **kwargs)

    def clean(self):
        data = super().clean()
        if "roles" in data:
            for problem in lockout_problems(
                actor=self.admin, user=self.user, roles=data["roles"], is_active=data.get("is_active", False)
            ):
                self.add_error(None, problem)
        return data


class PasswordResetForm(forms.Form):
    password = InitialPasswordField()

    def __init__(self, *args, user: User, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)
        self.fields["password"].label = _("新的初始密码")
        if not self.is_bound:
            self.initial.setdefault("password", password_suggest())

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        password_validate(password, self.user)
        return password


class PasswordChangeForm(forms.Form):
    """A staff member's own password: the current one, then the new one twice."""

    old_password = forms.CharField(
        label=_("当前密码"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
        error_messages={"required": _("请填写当前密码。")},
    )
    new_password1 = forms.CharField(
        label=_("新密码"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("至少10位，不能与姓名、用户名相近，不能全是数字或过于常见。"),
        error_messages={"required": _("请填写新密码。")},
    )
    new_password2 = forms.CharField(
        label=_("再次输入新密码"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        error_messages={"required": _("请再次输入新密码。")},
    )

    def __init__(self, *args, user: User, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_old_password(self) -> str:
        password = self.cleaned_data["old_password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("当前密码不正确。"), code="wrong")
        return password

    def clean(self):
        data = super().clean()
        new1, new2 = data.get("new_password1"), data.get("new_password2")
        if new1 and new2 and new1 != new2:
            self.add_error("new_password2", _("两次输入的新密码不一致。"))
        elif new1 and new1 == data.get("old_password"):
            self.add_error("new_password1", _("新密码不能与当前密码相同。"))
        elif new1:
            try:
                password_validate(new1, self.user)
            except forms.ValidationError as error:
                self.add_error("new_password1", error)
        return data
