"""Mute times: recurring windows (weekly maintenance, a night) in which a route sends nothing,
as Alertmanager's ``time_intervals``.

A rule file names them in ``time_intervals`` and a route lists the ones that mute it in
``mute_time_intervals``. An interval holds when every field it gives holds: ``weekdays``
(``monday:friday``, ``saturday``), ``times`` (``[{start_time: "02:00", end_time: "04:00"}]``,
end exclusive, ``24:00`` for midnight), ``days_of_month`` (``1:5``, ``-1`` for the last),
``months`` (``january:march`` or ``1:3``), ``years`` (``2026:2027``), in ``location`` (default
Asia/Shanghai). A transition is held while the wall clock is in a window, and also when its own
event time is (a replay of last week's maintenance is still maintenance); at the window's end it
is sent if its alert is still firing, and dropped otherwise.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

WEEKDAYS = [d.lower() for d in calendar.day_name]  # monday … sunday
MONTHS = [m.lower() for m in calendar.month_name][1:]  # january … december
STEP = timedelta(minutes=1)  # times are given to the minute
LONGEST = timedelta(days=366)  # a window that never ends is refused at load


def _ranges(items: tuple[str, ...], names: list[str] | None, lo: int, hi: int
            ) -> list[tuple[int, int]]:
    """``["monday:friday", "sunday"]`` or ``["1:5", "-1"]`` as inclusive number ranges."""
    def number(text: str) -> int:
        text = text.strip().lower()
        if names is not None and text in names:
            return names.index(text) + lo
        value = int(text)
        if not (lo <= value <= hi or (lo == 1 and -31 <= value <= -1)):
            raise ValueError(f"{text} is outside {lo}..{hi}")
        return value

    out = []
    for item in items:
        start, _, end = str(item).partition(":")
        out.append((number(start), number(end or start)))
    return out


class TimeRange(BaseModel):
    """A time of day range, start inclusive, end exclusive."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    start_time: str
    end_time: str

    @field_validator("start_time", "end_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        hours, _, minutes = value.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2
                and (0 <= int(hours) < 24 or value == "24:00") and int(minutes) < 60):
            raise ValueError(f"{value!r} is not a time of day HH:MM (00:00 to 24:00)")
        return value

    def minutes(self) -> tuple[int, int]:
        """(start, end) in minutes of the day."""
        def of(text: str) -> int:
            hours, minutes = text.split(":")
            return int(hours) * 60 + int(minutes)
        return of(self.start_time), of(self.end_time)


class TimeInterval(BaseModel):
    """One recurring window: every field given must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    times: tuple[TimeRange, ...] = ()
    weekdays: tuple[str, ...] = ()
    days_of_month: tuple[str, ...] = ()
    months: tuple[str, ...] = ()
    years: tuple[str, ...] = ()
    location: str = "Asia/Shanghai"

    @field_validator("weekdays", "days_of_month", "months", "years", mode="before")
    @classmethod
    def _strings(cls, value: object) -> object:
        return tuple(str(v) for v in value) if isinstance(value, list | tuple) else value

    @model_validator(mode="after")
    def _readable(self) -> TimeInterval:
        """Refuse what cannot be read now, not at the first alert."""
        self.zone()
        _ranges(self.weekdays, WEEKDAYS, 0, 6)
        _ranges(self.days_of_month, None, 1, 31)
        _ranges(self.months, MONTHS, 1, 12)
        _ranges(self.years, None, 1970, 9999)
        return self

    def zone(self) -> tzinfo:
        """The interval's time zone."""
        try:
            return ZoneInfo(self.location)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.location!r}") from None

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) falls in the interval."""
        local = moment.astimezone(self.zone())
        if self.times:
            minute = local.hour * 60 + local.minute
            if not any(s <= minute < e for s, e in (t.minutes() for t in self.times)):
                return False
        if self.weekdays and not _within(local.weekday(), _ranges(self.weekdays, WEEKDAYS, 0, 6)):
            return False
        if self.days_of_month:
            last = calendar.monthrange(local.year, local.month)[1]
            days = [(s if s > 0 else last + 1 + s, e if e > 0 else last + 1 + e)
                    for s, e in _ranges(self.days_of_month, None, 1, 31)]
            if not _within(local.day, days):
                return False
        if self.months and not _within(local.month, _ranges(self.months, MONTHS, 1, 12)):
            return False
        return not self.years or _within(local.year, _ranges(self.years, None, 1970, 9999))


def _within(value: int, ranges: list[tuple[int, int]]) -> bool:
    return any(start <= value <= end for start, end in ranges)


class MuteTime(BaseModel):
    """A named mute time: one or more intervals, any of which mutes."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    time_intervals: tuple[TimeInterval, ...]

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` is muted."""
        return any(i.contains(moment) for i in self.time_intervals)

    def end_after(self, moment: datetime) -> datetime:
        """The first minute boundary at or after ``moment`` that is not muted (``moment``
        itself when it is not). Held transitions ask again at every pass of the notifier:
        within a muted minute the answer is the same, so it is remembered."""
        if not self.contains(moment):
            return moment
        return _muted_until(self, moment.replace(second=0, microsecond=0))


@lru_cache(maxsize=4096)
def _muted_until(mute: MuteTime, minute: datetime) -> datetime:
    at = minute + STEP
    while mute.contains(at):
        at += STEP
        if at - minute > LONGEST:
            raise ValueError(f"mute time {mute.name!r} never ends")
    return at
