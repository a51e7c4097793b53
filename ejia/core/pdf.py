"""What every printed document shares: the Chinese font, escaped paragraphs, an A4 page.

The font is reportlab's built-in Adobe CID font STSong-Light, so no font file ships with the
platform (government intranets are offline and fonts are licensed).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def paragraph(text, style) -> Paragraph:
    """A paragraph of plain text: Paragraph parses markup, so what people typed is escaped."""
    return Paragraph(escape(str(text)), style)


def a4_pdf(
    story: list,
    *,
    title: str,
    margins_mm: tuple[float, float, float, float] = (18, 18, 18, 18),
    footer: Callable | None = None,
) -> io.BytesIO:
    """Lay `story` out on A4 pages (margins left, right, top, bottom in mm); `footer(canvas,
    doc)` is drawn on every page. Returns the PDF, positioned at its start."""
    left, right, top, bottom = margins_mm
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=left * mm,
        rightMargin=right * mm,
        topMargin=top * mm,
        bottomMargin=bottom * mm,
        title=title,
        author="e家大救助",
    )
    if footer is None:
        doc.build(story)
    else:
        doc.build(story, onFirstPage=footer, onLaterPages=footer)
    buf.seek(0)
    return buf
