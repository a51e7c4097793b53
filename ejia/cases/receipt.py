"""The receipt handed to the applicant (受理回执): a one-page Chinese PDF with a tracking QR code."""

from __future__ import annotations

import io

import qrcode
from django.conf import settings
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Image, Paragraph, Spacer, Table, TableStyle
from reportlab.platypus.flowables import KeepTogether

from ejia.cases.matching import OUTCOME_LABELS
from ejia.cases.models import Case, Need
from ejia.core.i18n import official_language
from ejia.core.money import format_fen
from ejia.core.pdf import FONT, a4_pdf, paragraph

BODY = ParagraphStyle("body", fontName=FONT, fontSize=10.5, leading=16, wordWrap="CJK")
SMALL = ParagraphStyle("small", parent=BODY, fontSize=9, leading=13, textColor=colors.HexColor("#444444"))
TITLE = ParagraphStyle("title", parent=BODY, fontSize=18, leading=26, alignment=TA_CENTER, spaceAfter=4)
SUBTITLE = ParagraphStyle("subtitle", parent=BODY, fontSize=10, alignment=TA_CENTER, textColor=colors.grey)
REFERENCE = ParagraphStyle("reference", parent=BODY, fontSize=13, leading=17)
HEADING = ParagraphStyle("heading", parent=BODY, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4)


def tracking_url(case: Case) -> str:
    return f"{settings.EJIA_SITE_URL.rstrip('/')}{settings.EJIA_TRACKING_PATH}?ref={case.reference}"


def _qr(url: str, size_mm: float = 32) -> Image:
    img = qrcode.make(url, box_size=8, border=1)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    buf.seek(0)
    return Image(buf, width=size_mm * mm, height=size_mm * mm)


def _table(rows, widths, header=True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("FONT", (0, 0), (-1, -1), FONT, 10),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#999999")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")))
    table.setStyle(TableStyle(style))
    return table


@official_language
def receipt_pdf(case: Case) -> io.BytesIO:
    def p(text, style=BODY) -> Paragraph:
        return paragraph(text, style)

    window = case.window
    local = timezone.localtime(case.submitted_at)
    needs = {code: str(label) for code, label in Need.choices}
    story = [
        p("社会救助申请受理回执", TITLE),
        p("e家大救助　滨州市社会救助“一门受理、协同办理”", SUBTITLE),
        Spacer(1, 6 * mm),
    ]
    info = [
        [p("受理号"), p(case.reference, REFERENCE), p("受理时间"), p(f"{local:%Y年%m月%d日 %H:%M}")],
        [
            p("申请人"),
            p(f"{case.applicant.name}（{case.applicant.masked_id}）"),
            p("受理渠道"),
            p(case.get_channel_display()),
        ],
        [
            p("家庭住址"),
            p(f"{case.division.full_name} {case.household.address}"),
            p("家庭人口"),
            p(f"{len(case.declared_facts.get('members', []))}人"),
        ],
        [
            p("受理单位"),
            p(window.name if window else case.division.parent.full_name),
            p("经办人"),
            p(case.submitted_by.get_full_name() if case.submitted_by else "本人自助申请"),
        ],
    ]
    story.append(_table(info, [22 * mm, 70 * mm, 22 * mm, 56 * mm], header=False))
    if case.needs:
        story.append(p("困难情况", HEADING))
        story.append(
            p("、".join(needs.get(n, n) for n in case.needs) + (f"。{case.needs_note}" if case.needs_note else ""))
        )
    story.append(p("申请的救助项目", HEADING))
    plan = {e["code"]: e for e in case.plan}
    rows = [[p("序号"), p("救助项目"), p("负责部门"), p("初步评估"), p("参考金额")]]
    for i, request in enumerate(case.requests.select_related("programme__department"), start=1):
        entry = plan.get(request.programme.code, {})
        amount = format_fen(request.amount_fen_proposed) if request.amount_fen_proposed else "—"
        if request.amount_fen_proposed and entry.get("benefit_form_code") == "monthly_cash":
            amount += "/月"
        rows.append(
            [
                p(i),
                p(request.programme.name),
                p(request.programme.department.name),
                p(OUTCOME_LABELS.get(entry.get("outcome", ""), "待核对")),
                p(amount),
            ]
        )
    if len(rows) == 1:
        rows.append([p("—"), p("未选择具体项目，由窗口根据困难情况统筹办理"), p(""), p(""), p("")])
    story.append(_table(rows, [12 * mm, 62 * mm, 40 * mm, 26 * mm, 30 * mm]))
    story.append(p("初步评估依据申请时申报的情况，最终以家庭经济状况核对和审核确认结果为准。", SMALL))
    if case.materials:
        story.append(p("材料清单", HEADING))
        rows = [[p("材料"), p("状态")]]
        for item in case.materials:
            rows.append(
                [
                    p(item["name"]),
                    p(("已在线签署" if item.get("online") else "已收取") if item.get("received") else "请补交"),
                ]
            )
        story.append(_table(rows, [140 * mm, 30 * mm]))
    auths = list(case.authorisations.select_related("person"))
    if auths:
        story.append(
            p(
                "已签署家庭经济状况核对授权书："
                + "、".join(f"{a.person.name}（有效期至{a.valid_until:%Y年%m月%d日}）" for a in auths),
                SMALL,
            )
        )
    url = tracking_url(case)
    track = Table(
        [
            [
                _qr(url),
                [
                    p("查询办理进度", HEADING),
                    p(f"扫描左侧二维码，或登录“e家大救助”，凭受理号 {case.reference} 和申请人身份证号码后6位查询。"),
                    p(url, SMALL),
                    p(f"咨询电话：{window.phone if window and window.phone else '12345'}", SMALL),
                ],
            ]
        ],
        colWidths=[38 * mm, 132 * mm],
    )
    track.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [Spacer(1, 4 * mm), KeepTogether(track), Spacer(1, 6 * mm)]
    story.append(
        p(
            "温馨提示：请妥善保管本回执。乡镇（街道）将在3个工作日内开始调查核实，需要入户调查时工作人员会提前联系您；"
            "审核确认结果将以短信通知。如实申报是申请人的义务，虚报、隐瞒将被追回救助金并记入信用记录。",
            SMALL,
        )
    )
    return a4_pdf(story, title=f"受理回执 {case.reference}", margins_mm=(20, 20, 18, 18))
