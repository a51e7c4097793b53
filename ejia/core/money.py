"""Money is integer fen everywhere; these helpers convert at the edges only."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


class InvalidAmount(ValueError):
    pass


def format_fen(fen: int | None, *, symbol: bool = True) -> str:
    """12345678 -> '¥123,456.78'; None -> '—'."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{'¥' if symbol else ''}{yuan:,}.{cents:02d}"


def format_fen_plain(fen: int | None) -> str:
    """12345678 -> '123456.78' (for files and inputs)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{yuan}.{cents:02d}"


def yuan_to_fen(value: str | int | Decimal) -> int:
    """'1,234.5' / '1234.50元' / Decimal -> 123450. At most two decimals; rejects garbage."""
    text = str(value).strip().replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
    text = text.removesuffix("元").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidAmount(f"“{value}”不是有效金额。") from None
    if not amount.is_finite():
        raise InvalidAmount(f"“{value}”不是有效金额。")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidAmount("金额最多保留两位小数（精确到分）。")
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))


def round_to_yuan(fen: int) -> int:
    """Round fen to whole yuan, half up (toward +inf), as benefit amounts are paid."""
    return ((int(fen) + 50) // 100) * 100
