from django import forms
from django.contrib.auth import authenticate
from django.utils.translation import gettext_lazy as _

from ejia.accounts import throttle


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
        if throttle.is_locked(username, ip):
            raise forms.ValidationError(_("登录失败次数过多，请15分钟后再试，或联系系统管理员。"), code="locked")
        user = authenticate(self.request, username=username, password=password)
        if user is None:
            throttle.record_failure(username, ip)
            raise forms.ValidationError(_("用户名或密码不正确。"), code="invalid")
        if user.unit_id is None and not user.is_superuser:
            raise forms.ValidationError(_("该账号未分配所属单位，请联系系统管理员。"), code="no_unit")
        self.user = user
        return data
