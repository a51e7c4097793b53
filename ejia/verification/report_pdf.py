"""The printed 家庭经济状况核对报告: one Chinese A4 document per check, for the case file.

It says what each department answered and on which date its data speaks, what that proves
(verified facts with their sources), where it differs from the declaration, what could not
be verified and why, and how the plan changed. ID numbers and account numbers appear masked
only: the check itself never holds them in full, and free text is masked again here.
"""

from __future__ import annotations

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

from ejia.core.i18n import official_language
from ejia.core.idnumber import mask_in_text
from ejia.core.money import format_fen
from ejia.core.pdf import FONT, a4_pdf, paragraph
from ejia.verification.models import CheckSource, VerificationCheck
from ejia.verification.selectors import check_report

BODY = ParagraphStyle("vr-body", fontName=FONT, fontSize=10, leading=15, wordWrap="CJK")
CELL = ParagraphStyle("vr-cell", parent=BODY, fontSize=9, leading=12)
SMALL = ParagraphStyle("vr-small", parent=BODY, fontSize=8.5, leading=12, textColor=colors.HexColor("#444444"))
TITLE = ParagraphStyle("vr-title", parent=BODY, fontSize=18, leading=26, alignment=TA_CENTER, spaceAfter=2)
SUBTITLE = ParagraphStyle("vr-subtitle", parent=BODY, fontSize=9.5, alignment=TA_CENTER, textColor=colors.grey)
HEADING = ParagraphStyle("vr-heading", parent=BODY, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4)
SUBHEADING = ParagraphStyle("vr-subheading", parent=BODY, fontSize=10.5, leading=15, spaceBefore=4, spaceAfter=2)
WIDTH = 180 * mm
HEADER_BG = colors.HexColor("#e8eef7")
WARNING_BG = colors.HexColor("#fff3cd")
FAILED = colors.HexColor("#b02a37")


def _p(text, style=CELL) -> Paragraph:
    # Paragraph parses markup: escape whatever departments or clerks wrote, mask stray ID numbers.
    return paragraph(mask_in_text(str(text)), style)


def _table(header: list[str], rows: list[list], widths_mm: list[float], *, highlight: list[int] = ()) -> Table:
    scale = WIDTH / (sum(widths_mm) * mm)
    data = [[_p(h) for h in header]] + [[c if isinstance(c, Paragraph) else _p(c) for c in row] for row in rows]
    table = Table(data, colWidths=[w * mm * scale for w in widths_mm], repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#999999")),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    style += [("BACKGROUND", (0, i + 1), (-1, i + 1), WARNING_BG) for i in highlight]
    table.setStyle(TableStyle(style))
    return table


def _source_status(row: CheckSource) -> Paragraph:
    if row.status == CheckSource.Status.FAILED:
        failed = ParagraphStyle("vr-failed", parent=CELL, textColor=FAILED)
        return _p(f"查询失败：{row.error}" if row.error else "查询失败", failed)
    return _p(row.get_status_display())


@official_language
def check_report_pdf(
    check: VerificationCheck, *, plan_changes: list[dict] | None = None, title_reference: str = "", printed_by=None
) -> bytes:
    """The report as PDF bytes. `plan_changes` are the case's plan changes (`verified_plan`),
    `title_reference` the case's 受理号, `printed_by` the staff member printing it."""
    report = check_report(check)
    household = check.household
    printed_at = timezone.localtime()
    started = timezone.localtime(check.created_at)
    finished = timezone.localtime(check.finished_at) if check.finished_at else None
    requester = check.requested_by.get_full_name() if check.requested_by else "系统"
    printer = (printed_by.get_full_name() or printed_by.get_username()) if printed_by else "系统"
    unit = getattr(printed_by, "unit", None)

    story = [
        _p("家庭经济状况核对报告", TITLE),
        _p("e家大救助　滨州市居民家庭经济状况核对系统", SUBTITLE),
        Spacer(1, 5 * mm),
    ]
    info = [
        [_p("受理号"), _p(title_reference or check.reference or "—"), _p("核对状态"), _p(check.get_status_display())],
        [
            _p("家庭住址"),
            _p(f"{household.division.full_name} {household.address}".strip()),
            _p("核对类型"),
            _p(check.get_purpose_display()),
        ],
        [_p("查询事由"), _p(check.reason), _p("发起人"), _p(requester)],
        [
            _p("发起时间"),
            _p(f"{started:%Y年%m月%d日 %H:%M}"),
            _p("完成时间"),
            _p(f"{finished:%Y年%m月%d日 %H:%M}" if finished else "尚未完成"),
        ],
    ]
    table = Table(info, colWidths=[20 * mm, 78 * mm, 20 * mm, 62 * mm])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#999999")),
                ("BACKGROUND", (0, 0), (0, -1), HEADER_BG),
                ("BACKGROUND", (2, 0), (2, -1), HEADER_BG),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    story.append(table)

    story.append(_p("一、核对的家庭成员", HEADING))
    story.append(
        _table(
            ["序号", "姓名", "身份证号码", "与户主关系"],
            [[i, m.name, m.masked_id, m.relation or "—"] for i, m in enumerate(report.members, start=1)],
            [12, 40, 70, 58],
        )
    )

    story.append(_p("二、各部门数据源查询情况", HEADING))
    story.append(
        _table(
            ["数据源", "提供部门", "方式", "状态", "数据日期", "记录数"],
            [
                [
                    line.row.source.name,
                    line.row.source.department,
                    line.row.get_mode_display(),
                    _source_status(line.row),
                    line.row.as_of.isoformat() if line.row.as_of else "—",
                    line.found if line.row.status == CheckSource.Status.DONE else "—",
                ]
                for line in report.sources
            ],
            [30, 40, 25, 39, 22, 14],
        )
    )
    if report.failed_sources:
        story.append(
            _p("查询失败的数据源未能核实，不能视为没有记录：相关事项仍以申报为准，须补充查询或入户核实。", SMALL)
        )

    story.append(_p("三、申报与核实不一致", HEADING))
    if report.differences:
        story.append(
            _table(
                ["对象", "事项", "申报", "核实", "数据来源", "数据日期"],
                [
                    [d["who"], d["label"], d["declared_text"], d["verified_text"], d["sources_text"], d["as_of"] or "—"]
                    for d in report.differences
                ],
                [20, 36, 30, 30, 40, 24],
                highlight=list(range(len(report.differences))),
            )
        )
    elif check.is_finished:
        story.append(_p("已核实的事项与申报一致。", BODY))
    else:
        story.append(_p("核对尚未完成，暂无比对结果。", BODY))

    story.append(_p("四、核实的事实及来源", HEADING))
    fact_rows = [["家庭", f.label, f.value, f.sources, f.as_of or "—", f.note] for f in report.household_facts]
    for m in report.members:
        fact_rows += [[m.name, f.label, f.value, f.sources, f.as_of or "—", f.note] for f in m.facts]
    if fact_rows:
        story.append(
            _table(["对象", "事项", "核实值", "数据来源", "数据日期", "说明"], fact_rows, [18, 34, 26, 34, 20, 48])
        )
    else:
        story.append(_p("尚无核实的事实（各部门数据尚未全部返回）。", BODY))

    story.append(_p("五、未能核实的事项", HEADING))
    if report.unverified:
        story.append(_table(["事项", "原因"], [[u["label"], u["why"]] for u in report.unverified], [60, 120]))
    else:
        story.append(_p("无。", BODY))

    story.append(_p("六、各成员查到的部门记录", HEADING))
    for m in report.members:
        story.append(_p(f"{m.name}（{m.masked_id}）{('　' + m.relation) if m.relation else ''}", SUBHEADING))
        for group in m.groups:
            title = f"{group.title}（{group.source}）" + (f"：{group.summary}" if group.summary else "")
            story.append(_p(title, SMALL))
            story.append(_table(group.columns, group.rows, [1] * len(group.columns)))
        if m.nothing_found:
            story.append(_p("未查到记录：" + "、".join(m.nothing_found), SMALL))
        if m.failed:
            story.append(_p("查询失败（未能核实，不能视为没有记录）：" + "、".join(m.failed), SMALL))
        if m.waiting:
            story.append(_p("尚未返回：" + "、".join(m.waiting), SMALL))

    story.append(_p("七、核对后的救助方案变化", HEADING))
    if plan_changes:
        story.append(
            _table(
                ["救助项目", "是否申请", "核对前", "核对后", "金额（前）", "金额（后）"],
                [
                    [
                        c["name"],
                        "已申请" if c.get("requested") else "—",
                        c["before"],
                        c["after"],
                        format_fen(c.get("amount_before")),
                        format_fen(c.get("amount_after")),
                    ]
                    for c in plan_changes
                ],
                [50, 18, 24, 24, 32, 32],
            )
        )
    elif check.is_finished:
        story.append(_p("按核实后的情况重新评估，救助方案没有变化。", BODY))
    else:
        story.append(_p("核对完成后重新评估救助方案。", BODY))

    story += [
        Spacer(1, 6 * mm),
        _p(
            "说明：本报告依据申请人及其家庭成员签署的核对授权书，向各部门查询所得；数据日期为各部门数据所反映的日期。"
            "身份证号码、账号均已脱敏。本报告仅供社会救助审核使用，不得用于其他用途。",
            SMALL,
        ),
        _p(
            f"打印：{printer}{('（' + unit.name + '）') if unit else ''}　打印时间：{printed_at:%Y年%m月%d日 %H:%M}",
            SMALL,
        ),
    ]

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.setFillColor(colors.grey)
        canvas.drawString(15 * mm, 10 * mm, f"家庭经济状况核对报告　{title_reference or check.reference}")
        canvas.drawRightString(195 * mm, 10 * mm, f"第 {doc.page} 页")
        canvas.restoreState()

    return a4_pdf(
        story,
        title=f"家庭经济状况核对报告 {title_reference or check.reference}",
        margins_mm=(15, 15, 15, 18),
        footer=footer,
    ).getvalue()
