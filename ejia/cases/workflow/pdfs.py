"""Printable Chinese PDFs: the village public notice (公示) and the decision notice."""

from __future__ import annotations

import io

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

from ejia.cases.workflow.models import DecisionNotice, PublicNotice
from ejia.cases.workflow.services.notices import decision_amount_text
from ejia.core.i18n import official_language
from ejia.core.money import format_fen
from ejia.core.pdf import FONT, a4_pdf, paragraph

BODY = ParagraphStyle("wf-body", fontName=FONT, fontSize=11, leading=18, wordWrap="CJK")
TITLE = ParagraphStyle("wf-title", parent=BODY, fontSize=18, leading=28, alignment=TA_CENTER, spaceAfter=6)
RIGHT = ParagraphStyle("wf-right", parent=BODY, alignment=TA_RIGHT)
MARGINS_MM = (18, 18, 18, 25.4)
CELL = ParagraphStyle("wf-cell", parent=BODY, fontSize=10, leading=14)

# Administrative reconsideration (行政复议法 Art. 20) and review (复核) run 60 days from notice.
HOW_TO_OBJECT = (
    "如对本决定不服，可以自收到本通知书之日起60日内向作出决定的部门申请复核，"
    "或者依法向其上一级主管部门或本级人民政府申请行政复议；也可以拨打12345热线反映。"
)


def _p(text, style=BODY) -> Paragraph:
    return paragraph(text, style)


def _table(rows, widths) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 10),
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#888888")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


@official_language
def public_notice_pdf(notice: PublicNotice) -> io.BytesIO:
    village = notice.village
    story = [
        _p(f"{village.parent.name if village.parent else ''}{village.name}社会救助公示", TITLE),
        _p(
            f"根据《社会救助暂行办法》，现将下列社会救助申请审核情况予以公示。公示期为"
            f"{notice.start_date:%Y年%m月%d日}至{notice.end_date:%Y年%m月%d日}（7天）。"
            "如有异议，请在公示期内向乡镇（街道）社会救助工作平台反映。"
        ),
        Spacer(1, 5 * mm),
    ]
    rows = [[_p("序号", CELL), _p("申请人", CELL), _p("家庭人口", CELL), _p("救助项目", CELL), _p("拟救助金额", CELL)]]
    for i, entry in enumerate(notice.entries.all().order_by("pk"), start=1):
        rows.append(
            [
                _p(i, CELL),
                _p(entry.masked_name, CELL),
                _p(f"{entry.household_size}人", CELL),
                _p(entry.programme_name, CELL),
                _p(format_fen(entry.amount_fen), CELL),
            ]
        )
    story += [
        _table(rows, [14 * mm, 30 * mm, 22 * mm, 78 * mm, 30 * mm]),
        Spacer(1, 8 * mm),
        _p(f"监督电话：12345　　{notice.unit.name}", RIGHT),
        _p(f"{notice.start_date:%Y年%m月%d日}", RIGHT),
    ]
    return a4_pdf(story, title=f"{village.name}社会救助公示", margins_mm=MARGINS_MM)


@official_language
def decision_notice_pdf(notice: DecisionNotice) -> io.BytesIO:
    case = notice.case
    issued = timezone.localtime(notice.issued_at)
    story = [
        _p("社会救助决定通知书", TITLE),
        _p(f"编号：{notice.number}", RIGHT),
        Spacer(1, 4 * mm),
        _p(f"{case.applicant.name}（{case.applicant.masked_id}）："),
        _p(
            f"　　您于{timezone.localtime(case.submitted_at):%Y年%m月%d日}提出的社会救助申请（受理号{case.reference}），"
            "经审核并由县级社会救助管理服务中心联合审核，决定如下："
        ),
        Spacer(1, 4 * mm),
    ]
    rows = [[_p("救助项目", CELL), _p("办理部门", CELL), _p("结果", CELL), _p("金额", CELL), _p("理由", CELL)]]
    for row in notice.content:
        amount = decision_amount_text(row)
        rows.append(
            [
                _p(row["programme"], CELL),
                _p(row.get("unit") or row.get("department", ""), CELL),
                _p(row["outcome_label"], CELL),
                _p(amount, CELL),
                _p(row.get("reasons") or "—", CELL),
            ]
        )
    story += [
        _table(rows, [46 * mm, 36 * mm, 20 * mm, 28 * mm, 44 * mm]),
        Spacer(1, 6 * mm),
        _p(
            "　　批准的救助金按月（或按规定）打入家庭登记的惠民惠农一卡通账户。家庭人口、收入、财产发生变化的，请及时告知乡镇（街道）社会救助工作平台。"
        ),
        _p("　　" + HOW_TO_OBJECT),
        Spacer(1, 10 * mm),
        _p(notice.joint_review.unit.name, RIGHT),
        _p(f"{issued:%Y年%m月%d日}", RIGHT),
    ]
    return a4_pdf(story, title=f"社会救助决定通知书 {notice.number}", margins_mm=MARGINS_MM)
