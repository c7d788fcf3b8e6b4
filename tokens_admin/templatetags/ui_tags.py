"""Small presentation helpers for the admin templates."""

from __future__ import annotations

import zlib
from datetime import datetime

from django import template
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from tokens_admin.ui import in_dialog

register = template.Library()
AVATAR_COLOURS = 8


@register.filter
def heading_level(request: HttpRequest, below: int = 0) -> int:
    """2 in a dialog, 1 on a page of its own (``tokens_admin.ui.in_dialog``); ``below`` more
    for the headings under the title."""
    return (2 if in_dialog(request) else 1) + int(below)


@register.filter
def initials(name: str) -> str:
    """ "CRM robot" -> "CR"; one word -> its first two letters."""
    words = [w for w in str(name).split() if w[:1].isalnum()]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[1][0]).upper()


@register.filter
def avatar_colour(key: str) -> int:
    """A stable colour class (0-7) per name, so one token keeps its colour everywhere."""
    return zlib.crc32(str(key).encode()) % AVATAR_COLOURS


@register.simple_tag
def when(moment: datetime | None, empty: str = "—") -> SafeString:
    """A <time> in UTC that static/js/app.js rewrites into the user's zone (UTC on hover)."""
    if moment is None:
        return format_html("{}", empty)
    utc = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return format_html(
        '<time datetime="{}" title="{}" data-local>{}</time>',
        moment.isoformat(),
        utc,
        moment.strftime("%d %b %Y, %H:%M UTC"),
    )


def _in_words(delta_seconds: float) -> str:
    minutes = int(delta_seconds // 60)
    if minutes < 60:
        return "in less than an hour" if minutes < 1 else f"in {minutes} min"
    hours = minutes // 60
    if hours < 24:
        return f"in {hours} hour{'s' if hours != 1 else ''}"
    days = round(delta_seconds / 86400)  # (40 days less the request's milliseconds: 40)
    return f"in {days} day{'s' if days != 1 else ''}"


@register.simple_tag
def expiry(moment: datetime | None, expired: bool = False) -> SafeString:
    """An expiry as people read it: "Never", "Expired", "in 5 days", with the exact moment in
    UTC as a <time> (its title) for the curious."""
    if moment is None:
        return format_html("{}", "Never")
    from django.utils import timezone

    left = (moment - timezone.now()).total_seconds()
    text = "Expired" if expired or left <= 0 else _in_words(left)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        moment.strftime("%d %b %Y, %H:%M UTC"),
        text,
    )
