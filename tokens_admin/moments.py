"""Moments from outside: an ISO-8601 date-time (or a date, meaning its midnight) read as UTC
when it names no offset. One reading for RQL filters and request bodies."""

from __future__ import annotations

from datetime import UTC, datetime, time

from django.utils.dateparse import parse_date, parse_datetime


class NotAMoment(ValueError):
    """``reason``: what is wrong, for the caller's message."""

    def __init__(self, reason: str = "not an ISO-8601 date or date-time") -> None:
        super().__init__(reason)
        self.reason = reason


def parse_moment(text: str) -> datetime:
    """The aware UTC datetime ``text`` names, or ``NotAMoment``."""
    try:
        # Both return None for what does not look like a date, and raise ValueError for
        # what looks like one but does not exist (2026-02-30, 25:00).
        parsed = parse_datetime(text)
        day = parse_date(text) if parsed is None else None
    except ValueError:
        raise NotAMoment() from None
    if parsed is None:
        if day is None:
            raise NotAMoment()
        parsed = datetime.combine(day, time.min)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise NotAMoment("out of range once converted to UTC") from None
