"""Template filters of the audit trail's pages."""

from __future__ import annotations

import re

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Constants: a place the line may break, after a dot or a hyphen, or between two words.
DOT_BREAK = mark_safe(".<wbr>")
HYPHEN_BREAK = mark_safe("-<wbr>")
WORD_BREAK = mark_safe("<wbr>")


@register.filter
def key_breaks(key: str) -> SafeString:
    """An event key that may wrap after each dot, and nowhere else (each part escaped):
    ``platform.<wbr>accounts.<wbr>api_token.<wbr>updated``."""
    return format_html_join(DOT_BREAK, "{}", ((part,) for part in str(key).split(".")))


# Shorter ids (TKN-1234-5678, USR-…, AUD-…) never wrap; longer ones, as integrations send, may.
LONG_ID = 16


@register.filter
def id_breaks(value: str) -> SafeString:
    """An id that may wrap after its hyphens when it is long (``CRM-0000-1111-2222-3333``);
    a short one stays whole."""
    text = str(value)
    if len(text) <= LONG_ID:
        return format_html("{}", text)
    return format_html_join(HYPHEN_BREAK, "{}", ((part,) for part in text.split("-")))


@register.filter
def camel_breaks(value: str) -> SafeString:
    """A type name that may wrap between its words: ``Dynamics<wbr>Customer<wbr>Contact``."""
    words = re.findall(r"[A-Z]?[^A-Z]*", str(value))
    return format_html_join(WORD_BREAK, "{}", ((word,) for word in words if word))


# Our ids as they appear in sentences: "API token CRM robot (TKN-1234-5678) created".
ID_RE = re.compile(r"\b[A-Z]{3}-\d{4}(?:-\d{4}){1,3}\b")


@register.filter
def ids_whole(text: str) -> SafeString:
    """Free text whose ids never wrap at their hyphens (the rest wraps as text does)."""
    text = str(text)
    pieces: list[SafeString] = []
    start = 0
    for found in ID_RE.finditer(text):
        pieces.append(
            format_html(
                '{}<span class="id-whole">{}</span>', text[start : found.start()], found.group()
            )
        )
        start = found.end()
    pieces.append(format_html("{}", text[start:]))
    return format_html_join("", "{}", ((piece,) for piece in pieces))
