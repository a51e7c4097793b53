from django import template

from ejia.core import idnumber
from ejia.core.money import format_fen

register = template.Library()


@register.filter
def fen(value):
    """{{ amount_fen|fen }} -> ¥1,234.56"""
    return format_fen(value)


@register.filter
def masked_id(value):
    return idnumber.mask(value)
