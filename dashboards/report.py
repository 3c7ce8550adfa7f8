"""What the province's report is made of (`fjsense report`): a Beijing calendar period, and
sections that each say, against an indicator, whether it is met, with their figures (the JSON's
keys), a chart and the quality of their data. Kinds give their sections as stage code
(``report``: (conn, settings, catalog, period) → Section); the platform adds the alerts'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
PeriodKind = Literal["day", "week", "month"]


@dataclass(frozen=True)
class Period:
    """A Beijing calendar day, week (Monday to Sunday) or month holding ``day``."""

    kind: PeriodKind
    first: date  # its first day
    last: date  # its last day

    @classmethod
    def of(cls, kind: PeriodKind, day: date) -> Period:
        """The period of ``kind`` that holds ``day``."""
        if kind == "day":
            return cls(kind, day, day)
        if kind == "week":
            first = day - timedelta(days=day.weekday())
            return cls(kind, first, first + timedelta(days=6))
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return cls(kind, first, following - timedelta(days=1))

    @property
    def start(self) -> datetime:
        """Its first instant (Beijing midnight, aware)."""
        return datetime.combine(self.first, time(), BEIJING)

    @property
    def end(self) -> datetime:
        """The instant after it (the next Beijing midnight): the period is [start, end)."""
        return datetime.combine(self.last + timedelta(days=1), time(), BEIJING)

    @property
    def days(self) -> list[date]:
        """Its days, in order."""
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def hours(self) -> int:
        """How many hours it has."""
        return len(self.days) * 24

    def label(self) -> str:
        """In words, e.g. ``2026-12 (month)``."""
        if self.kind == "day":
            return f"{self.first:%Y-%m-%d} (day)"
        if self.kind == "week":
            return f"{self.first:%Y-%m-%d} – {self.last:%Y-%m-%d} (week)"
        return f"{self.first:%Y-%m} (month)"


@dataclass(frozen=True)
class Section:
    """One section of the report: its JSON key and figures, its verdict and its chart."""

    key: str  # the top-level key of report.json
    title_zh: str
    title_en: str
    verdict_zh: str  # one sentence: is the indicator met?
    verdict_en: str
    met: bool | None  # None: no data to judge
    quality: str  # e.g. "2 of 24 hours not valid"
    figures: dict[str, Any]
    chart: str = ""  # an inline SVG
    rows: list[dict[str, Any]] = field(default_factory=list)  # a table under the chart
