"""`fjsense notify`: the alert notifier, its own component. The sink only stores transitions;
this reads them from ``alert_events`` and delivers them, so a receiver that is down slows
nothing but its own messages.

A pass starts when the sink commits new transitions (a trigger on ``alert_events`` notifies
``fjsense_alert_events``), and at least every ``alerts.notify_poll_seconds``. Each pass, in
short transactions (rows locked with SKIP LOCKED, so notifiers may run side by
side):

1. *claim*: transitions to notify that no one has taken are muted by a matching silence, or
   gathered by route and group labels; a group that is due (``group_wait`` after its first
   transition, ``group_interval`` after its last message) becomes one ``alert_notifications``
   row per receiver, its id an idempotency key;
2. *repeat*: alerts still firing, not acknowledged nor silenced, whose last message is older
   than ``repeat_interval``, are sent again;
3. *deliver*: due rows are leased, sent (in parallel, per receiver), and marked delivered, or
   given their error and a later attempt (doubling to ``alerts.max_retry_seconds``).

A broadcast is a row per point (``sinks/broadcast.py``): the points' acknowledgements are
recorded and unacknowledged broadcasts of firing alerts made due again before each deliver,
and each point's state is reported every ``broadcast.report_seconds``.

Nothing is sent while a transaction holds rows of ``alert_events``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from dashboards.links import panel_links
from fjsense.catalog import catalog_of
from fjsense.credentials import Credentials
from fjsense.health import Health
from fjsense.rulefile import operator_rule_file, read_rule_files
from fjsense.rules import rules_of
from fjsense.settings import Settings
from sinks.broadcast import Broadcaster, BroadcastReceiver
from sinks.message import Message, Receiver
from sinks.receivers import receivers_of
from sinks.routing import BROADCAST, Route, load_mute_times, load_routes, route_of
from sinks.templates import Templates

log = logging.getLogger("fjsense.notify")

CLAIM_BATCH, DELIVER_BATCH = 5000, 200
LEASE_SECONDS = 60  # a delivery being attempted is not picked again meanwhile
REPEAT_EVERY_SECONDS = 10.0  # how often repeats are looked for
COUNT_EVERY_SECONDS = 10.0  # how often the alerts firing now are counted (health, metrics)
FIRING_BY_SEVERITY = (
    "SELECT severity, count(*) FROM (SELECT DISTINCT ON (rule, group_key) state, severity "
    "FROM alert_events WHERE state <> 'pending' ORDER BY rule, group_key, at DESC) latest "
    "WHERE state = 'firing' GROUP BY severity")
HOLD = "hold"  # a muted transition waits, unclaimed, for its window's end
STORED_CHANNEL = "fjsense_alert_events"  # told by a trigger when transitions are stored
EVENT_FIELDS = ("rule", "group_key", "group_by", "state", "at", "value", "threshold", "severity",
                "summary", "annotations", "labels", "site", "region")


def _key(event: dict[str, Any]) -> tuple[str, str, str, str]:
    return event["rule"], event["group_key"], event["state"], event["at"]


def _plain(event: dict[str, Any]) -> dict[str, Any]:
    out = {f: event[f] for f in EVENT_FIELDS}
    out["at"] = event["at"].isoformat() if isinstance(event["at"], datetime) else event["at"]
    return out


def silenced_by(silences: list[dict[str, Any]], event: dict[str, Any]) -> str | None:
    """The id of the first active silence whose matchers all hold for ``event``."""
    labels = {**event["labels"], "rule": event["rule"], "group_key": event["group_key"]}
    for silence in silences:
        if all(labels.get(k) == v for k, v in silence["matchers"].items()):
            return str(silence["id"])
    return None


def _silences(cur: psycopg.Cursor[Any], now: datetime) -> list[dict[str, Any]]:
    return cur.execute("SELECT id, matchers FROM alert_silences WHERE starts_at <= %s "
                       "AND %s < ends_at", [now, now]).fetchall()


def _last_message(cur: psycopg.Cursor[Any], route: str, labels: str,
                  reason: str | None) -> datetime | None:
    """When the group's last message (of ``reason``, or any) was made."""
    row = cur.execute(
        "SELECT max(created_at) AS last FROM alert_notifications WHERE route = %s AND "
        "group_labels = %s::jsonb AND (%s::text IS NULL OR reason = %s)",
        [route, labels, reason, reason]).fetchone()
    return row["last"] if row is not None else None


class Notifier:
    """Reads alert transitions from the database, groups them by route and sends them to
    receivers, with retries and exactly one delivery per notification."""

    def __init__(self, settings: Settings, receivers: dict[str, Receiver] | None = None,
                 routes: list[Route] | None = None) -> None:
        self.settings = settings
        self.routes = load_routes(settings) if routes is None else routes
        self.mute_times = load_mute_times(settings)
        self.receivers = receivers_of(settings) if receivers is None else receivers
        catalog = catalog_of(settings)
        rules = rules_of(read_rule_files(settings), settings, catalog)
        self.templates = Templates(settings, operator_rule_file(settings), self.routes,
                                   panel_links(settings, rules))
        speaker = self.receivers.get(BROADCAST)
        self.broadcaster = (Broadcaster(settings, catalog, speaker)
                            if isinstance(speaker, BroadcastReceiver) else None)
        self._next_report = 0.0
        self.dsn = Credentials(settings).dsn("writer")
        self.health = Health("notify")
        self.counts: dict[str, int] = defaultdict(int)
        self.failing: dict[str, str] = {}
        self.health.probe("delivered", lambda: dict(self.counts))
        self.health.probe("failing", lambda: dict(self.failing))
        self.firing: dict[str, int] = {}  # alerts firing now, per severity
        self.health.probe("firing", lambda: dict(self.firing))
        self._next_count = 0.0
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="deliver")
        self._next_repeat = 0.0

    # ---- 1. claim ----------------------------------------------------------------------
    def claim(self, conn: psycopg.Connection, now: datetime) -> int:
        """Group unclaimed transitions into notifications; returns how many rows were made."""
        made = 0
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT * FROM alert_events WHERE notify AND claimed_at IS NULL "
                "ORDER BY stored_at LIMIT %s FOR UPDATE SKIP LOCKED", [CLAIM_BATCH])
            events = cur.fetchall()
            if not events:
                return 0
            silences = _silences(cur, now)
            groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
            routes = {r.name: r for r in self.routes}
            for event in events:
                route = route_of(self.routes, event["labels"])
                dropped = silenced_by(silences, event) or ("no route" if route is None else
                                                           self._muted(cur, route, event, now))
                if dropped == HOLD:
                    continue  # recorded; looked at again once its window has passed
                if dropped is not None or route is None:
                    cur.execute("UPDATE alert_events SET claimed_at = %s, silenced_by = %s "
                                "WHERE rule = %s AND group_key = %s AND state = %s AND at = %s",
                                [now, dropped, *_key(event)])
                    continue
                labels = json.dumps(route.group_of(event), sort_keys=True)
                groups[(route.name, labels)].append(event)
            for (route_name, labels), members in groups.items():
                route = routes[route_name]
                last = _last_message(cur, route_name, labels, "new")
                oldest = min(e["stored_at"] for e in members)
                due = (oldest + timedelta(seconds=route.group_wait) if last is None
                       else max(oldest, last + timedelta(seconds=route.group_interval)))
                if now < due:
                    continue
                made += self._notify(cur, route, json.loads(labels), "new", members, now)
                cur.executemany(
                    "UPDATE alert_events SET claimed_at = %s WHERE rule = %s AND group_key = %s "
                    "AND state = %s AND at = %s", [[now, *_key(e)] for e in members])
        return made

    def _muted(self, cur: psycopg.Cursor[Any], route: Route, event: dict[str, Any],
               now: datetime) -> str | None:
        """``HOLD`` while a mute time of the route holds at ``now`` or held at the event's
        own time and has not ended; after it, None (send) when the transition is its alert's
        latest and the alert fires (or resolves after a firing that was sent), else the
        ``muted: NAME`` it is dropped as."""
        held = [m for m in (self.mute_times[n] for n in route.mute_time_intervals)
                if m.contains(now) or m.contains(event["at"])]
        if not held:
            return None
        if any(now < m.end_after(now if m.contains(now) else event["at"]) for m in held):
            return HOLD
        latest = cur.execute(
            "SELECT state, at FROM alert_events WHERE rule = %s AND group_key = %s AND "
            "state <> 'pending' ORDER BY at DESC LIMIT 1", [event["rule"], event["group_key"]]
        ).fetchone()
        if latest is not None and (latest["state"], latest["at"]) == (event["state"], event["at"]):
            if event["state"] == "firing":
                return None
            fired = cur.execute(
                "SELECT claimed_at IS NOT NULL AND silenced_by IS NULL AS sent FROM alert_events "
                "WHERE rule = %s AND group_key = %s AND state = 'firing' AND at < %s "
                "ORDER BY at DESC LIMIT 1", [event["rule"], event["group_key"], event["at"]]
            ).fetchone()
            if fired is not None and fired["sent"]:
                return None
        return "muted: " + ", ".join(m.name for m in held)

    def _notify(self, cur: psycopg.Cursor[Any], route: Route, labels: dict[str, str], reason: str,
                members: list[dict[str, Any]], now: datetime, salt: str = "") -> int:
        events = [_plain(e) for e in sorted(members, key=lambda e: (e["at"], e["rule"]))]
        keys = json.dumps([list(_key(e)) for e in events], default=str)
        made = 0
        for receiver in route.receivers:
            # a broadcast is one row per point that hears it; any other receiver, one row
            targets: list[str | None] = [None]
            if receiver == BROADCAST:
                targets = list(self.broadcaster.targets(events)) if self.broadcaster else []
            for target in targets:
                ident = hashlib.sha256(
                    f"{receiver}|{route.name}|{json.dumps(labels, sort_keys=True)}|{reason}|"
                    f"{salt}|{keys}{'|' + target if target else ''}".encode()).hexdigest()[:32]
                cur.execute(
                    "INSERT INTO alert_notifications (id, receiver, route, group_labels, reason, "
                    "events, created_at, next_attempt_at, target) VALUES (%s, %s, %s, %s, %s, "
                    "%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    [ident, receiver, route.name, Jsonb(labels), reason, Jsonb(events), now, now,
                     target])
                made += cur.rowcount
        return made

    # ---- 2. repeat ---------------------------------------------------------------------
    def repeat(self, conn: psycopg.Connection, now: datetime) -> int:
        """Alerts still firing, unacknowledged, unsilenced: again after repeat_interval."""
        made = 0
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            firing = cur.execute(
                "SELECT * FROM (SELECT DISTINCT ON (rule, group_key) * FROM alert_events "
                "WHERE state <> 'pending' ORDER BY rule, group_key, at DESC) latest "
                "WHERE state = 'firing' AND notify AND claimed_at IS NOT NULL "
                "AND silenced_by IS NULL AND NOT EXISTS (SELECT 1 FROM alert_acks a WHERE "
                "a.rule = latest.rule AND a.group_key = latest.group_key AND "
                "a.fired_at = latest.at)").fetchall()
            silences = _silences(cur, now)
            groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
            for event in firing:
                route = route_of(self.routes, event["labels"])
                if route is not None and silenced_by(silences, event) is None and not any(
                        self.mute_times[n].contains(now) for n in route.mute_time_intervals):
                    labels = json.dumps(route.group_of(event), sort_keys=True)
                    groups[(route.name, labels)].append(event)
            routes = {r.name: r for r in self.routes}
            for (route_name, labels), members in groups.items():
                route = routes[route_name]
                last = _last_message(cur, route_name, labels, None)
                if last is not None and now - last < timedelta(seconds=route.repeat_interval):
                    continue
                made += self._notify(cur, route, json.loads(labels), "repeat", members, now,
                                     salt=now.isoformat())
        return made

    # ---- 3. deliver --------------------------------------------------------------------
    def deliver(self, conn: psycopg.Connection) -> int:
        """Send what is due; returns how many went out."""
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            due = cur.execute(
                "UPDATE alert_notifications SET attempts = attempts + 1, next_attempt_at = "
                "now() + make_interval(secs => %s) WHERE id IN (SELECT id FROM "
                "alert_notifications WHERE delivered_at IS NULL AND next_attempt_at <= now() "
                "ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING *",
                [LEASE_SECONDS, DELIVER_BATCH]).fetchall()
        if not due:
            return 0
        messages = [Message(r["id"], r["receiver"], r["route"], r["reason"], r["group_labels"],
                            r["events"], target=r["target"]) for r in due]
        results = list(self.pool.map(self._send, messages))
        delivered = 0
        with conn.transaction():
            for row, error in zip(due, results, strict=True):
                if error is None:
                    # a broadcast not acknowledged by then is sent again (sinks/broadcast.py)
                    conn.execute("UPDATE alert_notifications SET delivered_at = now(), "
                                 "last_error = NULL, next_attempt_at = now() + make_interval("
                                 "secs => %s) WHERE id = %s",
                                 [self.settings.broadcast.repeat_seconds, row["id"]])
                    delivered += 1
                    continue
                pause = min(2.0 ** (row["attempts"] - 1), self.settings.alerts.max_retry_seconds)
                conn.execute("UPDATE alert_notifications SET last_error = %s, next_attempt_at = "
                             "now() + make_interval(secs => %s) WHERE id = %s",
                             [error, pause, row["id"]])
        return delivered

    def _send(self, message: Message) -> str | None:
        receiver = self.receivers.get(message.receiver)
        if receiver is None:
            return f"receiver {message.receiver!r} is not configured"
        try:
            receiver.send(self.templates.render(message))
        except Exception as exc:  # noqa: BLE001 - any failure is retried, and shown
            error = f"{type(exc).__name__}: {exc}"
            log.warning("%s: delivery %s failed: %s; it will be tried again", message.receiver,
                        message.id, error)
            self.failing[message.receiver] = error
            return error
        self.failing.pop(message.receiver, None)
        self.counts[message.receiver] += 1
        return None

    def once(self, conn: psycopg.Connection) -> None:
        """One pass: claim new transitions, repeat what is due, deliver and record the outcome."""
        now = datetime.now(UTC)
        self.claim(conn, now)
        if time.monotonic() >= self._next_repeat:
            self._next_repeat = time.monotonic() + min(
                [REPEAT_EVERY_SECONDS, *(r.repeat_interval for r in self.routes)])
            self.repeat(conn, now)
        if self.broadcaster is not None:
            self.broadcaster.record_acks(conn)
            self.broadcaster.repeat_due(conn)
        self.deliver(conn)
        if self.broadcaster is not None and time.monotonic() >= self._next_report:
            self._next_report = time.monotonic() + self.settings.broadcast.report_seconds
            self.broadcaster.report(conn, now)
        if time.monotonic() >= self._next_count:
            self._next_count = time.monotonic() + COUNT_EVERY_SECONDS
            self.firing = dict(conn.execute(FIRING_BY_SEVERITY).fetchall())

    def run(self, stop: threading.Event) -> None:
        """Pass after pass until ``stop``; a lost database is waited out."""
        delay = 0.5
        conn: psycopg.Connection | None = None
        try:
            while not stop.is_set():
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self.dsn, autocommit=True)
                        conn.execute(f"LISTEN {STORED_CHANNEL}")
                    self.once(conn)
                    self.health.ready()
                    delay = 0.5
                    # woken by the sink's commit of new transitions, else a pass every poll
                    for _ in conn.notifies(timeout=self.settings.alerts.notify_poll_seconds,
                                           stop_after=1):
                        pass
                except psycopg.OperationalError as exc:
                    log.warning("waiting for the database (%s); retrying in %.1fs",
                                str(exc).strip().splitlines()[0], delay)
                    self.health.waiting("the database")
                    conn = None
                    stop.wait(delay)
                    delay = min(delay * 2, 30.0)
        finally:
            if conn is not None:
                conn.close()
            self.pool.shutdown(wait=True)
            if self.broadcaster is not None:
                self.broadcaster.close()
