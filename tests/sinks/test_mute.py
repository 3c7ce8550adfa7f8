"""Mute times: the intervals at their edges, and the notifier on PostgreSQL holding what comes
inside a window (by the wall clock or by the transition's own event time) and sending, at the
window's end, only what still fires (or resolves a firing that was sent)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from fjsense.credentials import Credentials
from fjsense.settings import Settings
from fjsense.topics import ALERTS, AlertEvent, PLATFORM_STREAMS
from fjsense.yamlfile import YamlError
from sinks.migrate import bootstrap
from sinks.mute import MuteTime
from sinks.notify import Notifier
from sinks.receivers import LogReceiver
from sinks.routing import load_routes

# Tuesdays 02:00-04:00 in Fuzhou: Mondays 18:00-20:00 UTC
RULES = """rules: []
time_intervals:
  - name: maintenance
    time_intervals:
      - {weekdays: [tuesday], times: [{start_time: "02:00", end_time: "04:00"}]}
routes:
  - {receivers: [log], group_wait: 0s, group_interval: 0s, repeat_interval: 1h,
     mute_time_intervals: [maintenance]}
"""
MONDAY = datetime(2026, 12, 14, tzinfo=UTC)  # a Monday; in Fuzhou 08:00


def utc(hours: float, days: int = 0) -> datetime:
    return MONDAY + timedelta(days=days, hours=hours)


def test_an_interval_holds_from_its_start_to_before_its_end_in_its_own_zone():
    mute = MuteTime.model_validate({"name": "m", "time_intervals": [
        {"weekdays": ["tuesday"], "times": [{"start_time": "02:00", "end_time": "04:00"}]}]})
    assert [mute.contains(utc(h)) for h in (17.99, 18, 19.99, 20)] == [False, True, True, False]
    assert not mute.contains(utc(18, days=1))  # Tuesday 18:00 UTC is Wednesday in Fuzhou
    assert mute.end_after(utc(18.5)) == utc(20) and mute.end_after(utc(21)) == utc(21)
    last = MuteTime.model_validate({"name": "l", "time_intervals": [
        {"days_of_month": ["-1"], "months": ["december"], "location": "UTC"}]})
    assert last.contains(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert not last.contains(datetime(2026, 11, 30, 12, tzinfo=UTC))  # November's last: no


@pytest.mark.parametrize(("interval", "says"), [
    ('{weekdays: [tuesdy]}', "tuesdy"),
    ('{times: [{start_time: "2:00", end_time: "25:00"}]}', "25:00"),
    ('{location: Mars/Olympus}', "unknown time zone 'Mars/Olympus'"),
])
def test_a_bad_interval_is_refused_naming_the_file_and_line(tmp_path: Path, interval, says):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace(
        '{weekdays: [tuesday], times: [{start_time: "02:00", end_time: "04:00"}]}', interval))
    with pytest.raises(YamlError, match=f"{path}:5") as caught:
        load_routes(Settings(alerts={"rules_file": path}))
    assert says in str(caught.value)
    path.write_text(RULES.replace("mute_time_intervals: [maintenance]",
                                  "mute_time_intervals: [maintenence]"))
    with pytest.raises(YamlError, match="no time interval 'maintenence'; time_intervals: "
                                        "maintenance"):
        load_routes(Settings(alerts={"rules_file": path}))


@pytest.fixture
def notifier(settings: Settings, tmp_path: Path) -> Iterator[tuple[Notifier, psycopg.Connection]]:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    muted = Settings(**{**settings.model_dump(), "alerts": {
        **settings.alerts.model_dump(), "rules_file": path}})
    bootstrap(muted)
    with psycopg.connect(Credentials(muted).dsn("admin"), autocommit=True) as conn:
        yield Notifier(muted, receivers={"log": LogReceiver()}), conn


def transition(conn: psycopg.Connection, group: str, state: str, at: datetime) -> None:
    stream = next(s for s in PLATFORM_STREAMS if s.topic == ALERTS)
    event = AlertEvent(rule="tide-surge", group_key=group, group_by="site", state=state, at=at,
                       value=1.2, threshold=1.0, severity="warning", labels={"site": group},
                       summary="surge", inhibited=None, notify=True, site=group, region="xiamen")
    [row] = stream.rows(group.encode(), 0, stream.encode([event]))
    conn.execute(f"INSERT INTO alert_events ({', '.join(stream.table.columns)}) VALUES "  # type: ignore[union-attr]
                 f"({', '.join(['%s'] * len(row))})", row)


def sent(conn: psycopg.Connection) -> list[tuple[str, str, float]]:
    """(group, state, hours after Monday 00:00 UTC) of every transition notified."""
    return sorted((e["group_key"], e["state"], (datetime.fromisoformat(e["at"]) - MONDAY)
                   .total_seconds() / 3600) for (events,) in conn.execute(
        "SELECT events FROM alert_notifications") for e in events)


def test_held_inside_the_window_and_at_its_end_sent_only_if_still_firing(notifier):
    n, conn = notifier
    transition(conn, "before", "firing", utc(17))  # sent before the window ...
    n.claim(conn, utc(17))
    assert sent(conn) == [("before", "firing", 17.0)]
    transition(conn, "before", "resolved", utc(18.5))  # ... resolved inside it
    transition(conn, "flap", "firing", utc(18.2))  # fires and resolves inside
    transition(conn, "flap", "resolved", utc(19))
    transition(conn, "stays", "firing", utc(19.5))  # fires inside, still firing at the end
    transition(conn, "late", "firing", utc(12))  # event time before, reaching us inside
    for now in (utc(18), utc(19.99)):  # the window's first and last minute: nothing goes out
        n.claim(conn, now)
    assert sent(conn) == [("before", "firing", 17.0)]
    n.claim(conn, utc(20))  # its end
    assert sent(conn) == [("before", "firing", 17.0), ("before", "resolved", 18.5),
                          ("late", "firing", 12.0), ("stays", "firing", 19.5)]
    dropped = conn.execute("SELECT group_key, state, silenced_by FROM alert_events WHERE "
                           "silenced_by IS NOT NULL ORDER BY 1, 2").fetchall()
    assert dropped == [("flap", "firing", "muted: maintenance"),
                       ("flap", "resolved", "muted: maintenance")]


def test_a_replay_from_inside_a_past_window_is_judged_by_its_event_time(notifier):
    n, conn = notifier
    transition(conn, "replayed", "firing", utc(18.5, days=-7))  # last week's maintenance
    transition(conn, "replayed", "resolved", utc(19, days=-7))
    transition(conn, "outside", "firing", utc(21, days=-7))  # after last week's window
    n.claim(conn, utc(12))  # Monday noon UTC: no window now
    assert sent(conn) == [("outside", "firing", 21.0 - 7 * 24)]
