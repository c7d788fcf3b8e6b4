"""The Expiration control of the Add wizard and the Edit dialog (issue 16): presets of 7, 30,
60, 90 days and a year, a custom date, and "No expiration" when the account's policy allows it,
each preset labelled with the date it gives, so the result reads without JavaScript.

A choice is kept as it was made ("30", "custom" and a day) and turned into a moment when the
token is saved: a preset counts from that moment, a custom day lasts until its end (UTC, the
zone every page prints). The service checks the moment against the policy again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from apitokens.lifetime import Limits, days
from apitokens.rules import UNSET, Unset

PRESET_DAYS: Final = (7, 30, 60, 90, 365)
DEFAULT_DAYS: Final = 30
KEEP: Final = "keep"
CUSTOM: Final = "custom"
NEVER: Final = "never"
NO_DAY: Final = "Pick the day the token expires on."


def on(moment: datetime) -> str:
    """A day as the choices print it: "Sat, 02 Jan 2027"."""
    return moment.astimezone(UTC).strftime("%a, %d %b %Y")


def _preset_label(count: int) -> str:
    return "1 year" if count == 365 else days(count)


def _current(expires_at: datetime | None, now: datetime) -> str:
    if expires_at is None:
        return "never expires"
    return f"{'expired' if expires_at <= now else 'expires'} {on(expires_at)}"


@dataclass(frozen=True, slots=True)
class Choices:
    """What may be picked under ``limits`` at ``now``, and what is picked first."""

    options: list[tuple[str, str]]
    initial: str
    first_day: date
    last_day: date | None

    @classmethod
    def under(
        cls, limits: Limits, now: datetime, *, current: datetime | Unset | None = UNSET
    ) -> Choices:
        """``current``: the token's expiry when editing (offered as "Keep"), else ``UNSET``."""
        latest = limits.latest(now)
        allowed = [d for d in PRESET_DAYS if latest is None or now + timedelta(days=d) <= latest]
        options: list[tuple[str, str]] = []
        if not isinstance(current, Unset):
            options.append((KEEP, f"Keep: {_current(current, now)}"))
        for count in allowed:
            options.append((str(count), f"{_preset_label(count)} ({on(now + timedelta(count))})"))
        most = limits.max_lifetime_days
        if most is not None and most not in allowed:
            options.append((str(most), f"{days(most)}, the maximum ({on(now + timedelta(most))})"))
        options.append((CUSTOM, "Custom date"))
        if not limits.expiry_needed:
            options.append((NEVER, "No expiration"))
        numeric = [key for key, _ in options if key.isdigit()]
        if not isinstance(current, Unset):
            initial = KEEP
        elif str(DEFAULT_DAYS) in numeric:
            initial = str(DEFAULT_DAYS)
        else:
            initial = numeric[-1] if numeric else CUSTOM
        return cls(
            options=options,
            initial=initial,
            first_day=now.astimezone(UTC).date(),
            last_day=latest.astimezone(UTC).date() if latest is not None else None,
        )


def moment_of(
    choice: str, day: date | None, now: datetime, limits: Limits
) -> datetime | Unset | None:
    """The expiry a choice gives at ``now``: ``UNSET`` to keep the current one, ``None`` for
    none. A custom day lasts until its end, or until the policy's latest moment on its last
    allowed day. Raises ``ValueError`` (with the words to show) for a custom choice without a
    day."""
    if choice == KEEP:
        return UNSET
    if choice == NEVER:
        return None
    if choice == CUSTOM:
        if day is None:
            raise ValueError(NO_DAY)
        end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
        latest = limits.latest(now)
        if latest is not None and end > latest and day == latest.astimezone(UTC).date():
            return latest
        return end
    return now + timedelta(days=int(choice))


def describe(choice: str, day: date | None, now: datetime, limits: Limits) -> str:
    """The choice in words for the wizard's Overview: "30 days: Sat, 02 Jan 2027"."""
    try:
        moment = moment_of(choice, day, now, limits)
    except ValueError:
        return "—"
    if isinstance(moment, Unset):
        return "Unchanged"
    if moment is None:
        return "Never"
    if choice == CUSTOM:
        return moment.astimezone(UTC).strftime("%a, %d %b %Y, %H:%M UTC")
    return f"{_preset_label(int(choice))}: {on(moment)}"
