"""Argument types the commands share."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta


def instant(text: str, end: bool = False) -> datetime:
    """An ISO date or time as UTC; a date alone is its midnight, or as an ``end`` the next."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) - timedelta(microseconds=1) if end else moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
