import os
import subprocess
import sys

from django.conf import settings
from django.urls import reverse

from conftest import TEST_PASSWORD, login_with_code
from ejia.api.keys import new_pem
from ejia.core.models import AuditEvent


def test_login_page_is_chinese(client, db):
    page = client.get(reverse("accounts:login"))
    assert "工作人员登录" in page.content.decode()


def test_a_clerk_logs_in_and_sees_unit_roles_and_scope(client, bob):
    response = login_with_code(client, bob)
    html = client.get(response["Location"]).content.decode()
    assert "市中街道社会救助工作平台" in html
    assert "乡镇（街道）窗口受理员" in html
    assert "滨州市滨城区市中街道及下辖区域" in html
    assert AuditEvent.objects.filter(action="staff.login", object_id=str(bob.pk)).exists()


def test_a_wrong_password_gets_a_chinese_message(client, bob):
    response = client.post(reverse("accounts:login"), {"username": "bob", "password": "nope"})
    assert "用户名或密码不正确" in response.content.decode()


def test_repeated_failures_lock_the_name_even_with_the_right_password(client, bob):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(reverse("accounts:login"), {"username": "bob", "password": "nope"})
    response = client.post(reverse("accounts:login"), {"username": "bob", "password": TEST_PASSWORD})
    assert "登录失败次数过多" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_english_is_available(client, db):
    client.post(reverse("set_language"), {"language": "en", "next": "/staff/login/"})
    page = client.get(reverse("accounts:login"))
    assert 'lang="en"' in page.content.decode()


def test_a_browser_preferring_english_still_gets_chinese_until_english_is_chosen(client, db):
    # The pages are only partly translated: Accept-Language alone must not give a mixed page.
    page = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert 'lang="zh-hans"' in page and "登录" in page
    client.post(reverse("set_language"), {"language": "en", "next": "/staff/login/"}, HTTP_ACCEPT_LANGUAGE="en-US")
    page = client.get(reverse("accounts:login"), HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    assert 'lang="en"' in page


def test_logout_is_a_post(client, bob):
    client.force_login(bob)
    assert client.get(reverse("accounts:logout")).status_code == 405
    client.post(reverse("accounts:logout"))
    assert client.get(reverse("accounts:home")).status_code == 302


def test_production_settings_pass_the_deploy_check():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings_production",
        DJANGO_SECRET_KEY="t" * 20 + "-production-secret-for-the-deploy-check-0123456789",
        EJIA_FIELD_KEYS="k1:ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLWxvbmc=",
        EJIA_BLIND_INDEX_KEY="x",
        EJIA_AUDIT_KEY="y",
        EJIA_API_SIGNING_KEY=new_pem().decode("ascii"),
        DJANGO_ALLOWED_HOSTS="ejia.example.gov.cn",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_refuse_to_start_without_secrets():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EJIA_"))}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings_production"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_the_login_page_reads_in_english_when_chosen(client, db):
    client.post(reverse("set_language"), {"language": "en", "next": "/staff/login/"})
    html = client.get(reverse("accounts:login")).content.decode()
    assert "Staff login" in html and "Password" in html
