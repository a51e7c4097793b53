"""The public catalogue: filters, Chinese and pinyin search, the plain-language page."""

from django.urls import reverse


def names(response) -> str:
    return response.content.decode()


def test_the_catalogue_lists_every_programme_without_login(client, catalogue):
    response = client.get(reverse("portal:catalogue"))
    assert response.status_code == 200
    html = names(response)
    assert "共 69 个项目" in html
    assert "最低生活保障（低保）" in html


def test_a_chinese_keyword_finds_programmes_by_name_and_conditions(client, catalogue):
    html = names(client.get(reverse("portal:catalogue"), {"q": "残疾"}))
    assert "困难残疾人生活补贴" in html or "残疾人两项补贴" in html
    assert "最低生活保障（低保）" not in html.split('id="catalogue-results"')[1]


def test_pinyin_initials_find_dibao(client, catalogue):
    html = names(client.get(reverse("portal:catalogue"), {"q": "zdshbz"}))
    results = html.split('id="catalogue-results"')[1]
    assert "最低生活保障（低保）" in results


def test_filters_by_department_category_and_group(client, catalogue):
    html = names(client.get(reverse("portal:catalogue"), {"department": "jy"}))
    results = html.split('id="catalogue-results"')[1]
    assert "教育局" in results and "民政局" not in results
    html = names(client.get(reverse("portal:catalogue"), {"category": "medical"}))
    results = html.split('id="catalogue-results"')[1]
    assert "医疗救助" in results and "最低生活保障（低保）" not in results


def test_htmx_gets_only_the_results(client, catalogue):
    response = client.get(
        reverse("portal:catalogue"), {"q": "低保"}, headers={"HX-Request": "true", "HX-Target": "catalogue-results"}
    )
    html = names(response)
    assert html.strip().startswith('<section id="catalogue-results"')
    assert "<html" not in html


def test_nothing_found_suggests_the_self_check(client, catalogue):
    html = names(client.get(reverse("portal:catalogue"), {"q": "火星移民"}))
    assert "没有找到相关项目" in html


def test_a_programme_page_speaks_plain_language_with_county_amounts(client, catalogue):
    html = names(client.get(reverse("portal:programme", args=["dibao"])))
    for text in ("谁可以申请", "能得到什么", "怎么申请", "需要准备的材料", "负责部门和咨询", "民政局"):
        assert text in html
    assert "家庭人均月收入低于低保标准" in html
    assert "滨城区现行标准" in html
    assert "1,001 元" in html  # 2023 urban dibao standard
    assert "自2023年7月1日起执行" in html


def test_the_chosen_county_is_remembered(client, catalogue):
    response = client.post(reverse("portal:county"), {"county": "371621", "next": "/programmes/dibao/"})
    assert response["Location"] == "/programmes/dibao/"
    html = names(client.get(reverse("portal:programme", args=["dibao"])))
    assert "惠民县现行标准" in html


def test_an_unknown_programme_is_404(client, catalogue):
    assert client.get(reverse("portal:programme", args=["nope"])).status_code == 404


def test_elder_mode_is_a_remembered_switch(client, catalogue):
    response = client.post(reverse("portal:elder"), {"elder": "1", "next": "/programmes/"})
    assert response["Location"] == "/programmes/"
    assert response.cookies["elder"].value == "1"
    html = names(client.get(reverse("portal:catalogue")))
    assert 'class="portal elder"' in html
    assert "退出长辈版" in html
    response = client.post(reverse("portal:elder"), {"elder": "0", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    assert response.cookies["elder"].value == ""
