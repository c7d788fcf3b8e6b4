"""Template filters of the audit trail's pages."""

from __future__ import annotations

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

DOT_BREAK = mark_safe(".<wbr>")  # a constant: a dot, then a place the line may break


@register.filter
def key_breaks(key: str) -> SafeString:
    """An event key that may wrap after each dot, and nowhere else (each part escaped):
    ``platform.<wbr>accounts.<wbr>api_token.<wbr>updated``."""
    return format_html_join(DOT_BREAK, "{}", ((part,) for part in str(key).split(".")))
