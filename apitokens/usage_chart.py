"""The Usage tab's 30-day bar chart (issue 17), drawn on the server as SVG: readable without
JavaScript, with a text alternative and the same numbers in a table. Only geometry is computed
here; ``templates/apitokens/tab_usage.html`` draws it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

WIDTH: Final = 600
HEIGHT: Final = 160
AXIS: Final = 20  # room under the bars for the day labels
SLOT: Final = WIDTH / 30


@dataclass(frozen=True, slots=True)
class Bar:
    day: date
    requests: int
    refused: int
    x: float
    width: float
    y: float  # top of the requests bar
    height: float
    refused_x: float
    refused_width: float
    refused_y: float
    refused_height: float
    label: str  # "" or where its day is written under it: "middle", or "end" for the last


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    top: int  # the value the full height stands for
    total_requests: int
    total_refused: int
    width: int = WIDTH
    height: int = HEIGHT
    plot_height: int = HEIGHT - AXIS

    @property
    def summary(self) -> str:
        """The chart in words, for its text alternative."""
        if not self.bars:
            return "No days to show."
        busiest = max(self.bars, key=lambda bar: bar.requests)
        first, last = self.bars[0].day, self.bars[-1].day
        words = (
            f"{self.total_requests} requests and {self.total_refused} refused attempts from "
            f"{first:%d %b} to {last:%d %b %Y}"
        )
        if busiest.requests:
            words += f"; the busiest day was {busiest.day:%d %b} with {busiest.requests}"
        return words + "."


def _nice_top(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (at least 1)."""
    power = 1
    while True:
        for factor in (1, 2, 5):
            if power * factor >= value:
                return power * factor
        power *= 10


def _label(n: int, count: int) -> str:
    """Every 7th day counted back from today, today's against the right edge."""
    if n == count - 1:
        return "end"
    return "middle" if (count - 1 - n) % 7 == 0 and n > 0 else ""


def chart(daily: list[tuple[date, int, int]]) -> Chart:
    """Bars for ``daily`` (day, requests, refused; oldest first), requests in full and the
    refused attempts as a second, narrower bar beside each."""
    top = _nice_top(max((max(r, x) for _, r, x in daily), default=0))
    plot = HEIGHT - AXIS
    bars = []
    for n, (day, requests, refused) in enumerate(daily):
        height = plot * requests / top
        refused_height = plot * refused / top
        bars.append(
            Bar(
                day=day,
                requests=requests,
                refused=refused,
                x=round(n * SLOT + 2, 2),
                width=round(SLOT * 0.5, 2),
                y=round(plot - height, 2),
                height=round(height, 2),
                refused_x=round(n * SLOT + 2 + SLOT * 0.5, 2),
                refused_width=round(SLOT * 0.25, 2),
                refused_y=round(plot - refused_height, 2),
                refused_height=round(refused_height, 2),
                label=_label(n, len(daily)),
            )
        )
    return Chart(
        bars=bars,
        top=top,
        total_requests=sum(r for _, r, _ in daily),
        total_refused=sum(x for _, _, x in daily),
    )
