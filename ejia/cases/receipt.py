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

from ejia.cases.models import Case, Need
from ejia.catalogue.plan import PlanOutcome
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
    plan = case.plan
    requests = list(case.requests.select_related("programme__department", "person"))
    rows = [[p("序号"), p("救助项目"), p("负责部门"), p("初步评估"), p("参考金额")]]
    for i, request in enumerate(requests, start=1):
        entry = request.plan_entry()
        amount = format_fen(request.amount_fen_proposed) if request.amount_fen_proposed else "—"
        if request.amount_fen_proposed and entry is not None:
            amount += entry.amount_label
        name = request.programme.name + (f"（{request.person.name}）" if request.person_id else "")
        rows.append(
            [
                p(i),
                p(name),
                p(request.programme.department.name),
                p(entry.outcome_label if entry is not None else "待核对"),
                p(amount),
            ]
        )
    if len(rows) == 1:
        rows.append([p("—"), p("未选择具体项目，由窗口根据困难情况统筹办理"), p(""), p(""), p("")])
    story.append(_table(rows, [12 * mm, 62 * mm, 40 * mm, 26 * mm, 30 * mm]))
    story.append(p("初步评估依据申请时申报的情况，最终以家庭经济状况核对和审核确认结果为准。", SMALL))
    held = plan.with_outcome(PlanOutcome.ALREADY_RECEIVED)
    if held:
        story.append(p("已享受的救助", HEADING))
        rows = [[p("救助项目"), p("享受人"), p("起始时间"), p("金额")]]
        for e in held:
            since = e.received.since if e.received else None
            amount = e.received.amount_fen if e.received else None
            rows.append(
                [
                    p(e.name),
                    p(e.person_name or "全家"),
                    p(f"{since:%Y年%m月}起" if since else "—"),
                    p(format_fen(amount) + e.amount_label if amount else "按原决定"),
                ]
            )
        story.append(_table(rows, [70 * mm, 30 * mm, 35 * mm, 35 * mm]))
    excluded = plan.with_outcome(PlanOutcome.EXCLUDED)
    if excluded:
        story.append(
            p(
                "不可同时享受的项目："
                + "；".join(
                    f"{e.name}{'（' + e.person_name + '）' if e.person_name else ''}——已按“{e.excluded_by_name}”评估"
                    for e in excluded
                ),
                SMALL,
            )
        )
    keys = [r.plan_key for r in requests]
    totals = plan.totals(keys)
    story.append(p("救助合计（已享受加本次申请中可能符合的，以审核结果为准）", HEADING))
    rows = [[p("享受人"), p("每月现金"), p("其中已享受"), p("一次性现金"), p("服务、实物和减免")]]
    for row in plan.member_totals(keys):
        t = row.totals
        rows.append(
            [
                p(row.name),
                p(format_fen(t.monthly_fen)),
                p(format_fen(t.monthly_received_fen)),
                p(format_fen(t.one_off_fen)),
                p("、".join(t.in_kind) or "—"),
            ]
        )
    if len(rows) > 2:
        rows.append(
            [
                p("合计"),
                p(format_fen(totals.monthly_fen)),
                p(format_fen(totals.monthly_received_fen)),
                p(format_fen(totals.one_off_fen)),
                p(f"共{len(totals.in_kind)}项" if totals.in_kind else "—"),
            ]
        )
    story.append(_table(rows, [26 * mm, 28 * mm, 28 * mm, 28 * mm, 60 * mm]))
    papers = [m for m in case.materials if not m.get("note")]
    notes = [m["name"] for m in case.materials if m.get("note")]
    if papers:
        story.append(p("材料清单", HEADING))
        rows = [[p("材料"), p("状态")]]
        for item in papers:
            rows.append(
                [
                    p(item["name"]),
                    p(("已在线签署" if item.get("online") else "已收取") if item.get("received") else "请补交"),
                ]
            )
        story.append(_table(rows, [140 * mm, 30 * mm]))
    if notes:
        story.append(p("办理说明：" + "；".join(notes), SMALL))
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
