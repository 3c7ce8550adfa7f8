"""`fjsense deadletters list|replay`: read the refused messages, and send them again once their
cause is fixed (a setting, a station added to the catalog file).

A replay sends each original payload through the same validation as live data: a device's
message is published again over MQTT with the device's own login (the bridge judges it, and
dead-letters what it still refuses), an HJ 212 packet goes to the gateway over TCP. A message
whose cause plainly remains (the validation the bridge runs refuses all of it) is not sent: it
makes a new letter at once. Either way the letter is marked ``replayed_at``, and only letters
never replayed are taken, so replaying twice sends nothing twice and nothing loops.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from fjsense.arguments import instant
from fjsense.catalog import catalog_of
from fjsense.credentials import Credentials
from fjsense.deadletter import DeadLetter, dead_letter_row
from fjsense.registry import registry
from fjsense.settings import Settings
from ingest.validate import Validator
from simulators.messages import SimMessage
from simulators.publisher import DevicePublisher

INGEST = "ingest"  # the bridge's stage: its letters keep a device's original MQTT message


@dataclass(frozen=True)
class Letter:
    id: str
    received_at: datetime
    stage: str
    reason: str
    source: str
    payload: bytes
    payload_sha: str
    replayed_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        text = self.payload.decode("utf-8", errors="replace")
        return {"id": self.id, "stage": self.stage, "reason": self.reason,
                "source": self.source, "received_at": self.received_at.isoformat(),
                "replayed_at": self.replayed_at.isoformat() if self.replayed_at else None,
                "payload": text, "payload_bytes": len(self.payload)}


def letter_id(received_at: datetime, source: str, payload_sha: str, reason: str) -> str:
    """A short, stable id of a letter, from its natural key."""
    key = f"{received_at.timestamp():.6f}|{source}|{payload_sha}|{reason}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def select(conn: psycopg.Connection, args: argparse.Namespace,
           unreplayed: bool = False) -> list[Letter]:
    """The letters the filters take, oldest first."""
    where: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    for column, op, value in (("stage", "=", args.stage), ("reason", "ILIKE", args.reason),
                              ("received_at", ">=", args.since),
                              ("received_at", "<=", args.until)):
        if value is not None:
            where.append(sql.SQL("{} " + op + " %s").format(sql.Identifier(column)))
            params.append(f"%{value}%" if op == "ILIKE" else value)
    if unreplayed:
        where.append(sql.SQL("replayed_at IS NULL"))
    rows = conn.execute(sql.SQL(
        "SELECT received_at, stage, reason, source, payload, payload_sha, replayed_at "
        "FROM dead_letters WHERE {} ORDER BY received_at, source, reason").format(
            sql.SQL(" AND ").join(where)), params).fetchall()
    letters = [Letter(letter_id(r[0], r[3], r[5], r[2]), r[0], r[1], r[2], r[3], bytes(r[4]),
                      r[5], r[6]) for r in rows]
    return [x for x in letters if args.id is None or x.id in args.id]


def cmd_list(settings: Settings, args: argparse.Namespace) -> None:
    with psycopg.connect(Credentials(settings).dsn("reader")) as conn:
        letters = select(conn, args)
    if args.json:
        print(json.dumps([x.as_json() for x in letters], ensure_ascii=False))
        return
    for x in letters:
        replayed = f"\treplayed {x.replayed_at:%Y-%m-%d %H:%M:%S}" if x.replayed_at else ""
        print(f"{x.id}\t{x.received_at:%Y-%m-%d %H:%M:%S}\t{x.stage}\t{x.source}\t"
              f"{x.reason}{replayed}")


@dataclass
class Replayed:
    sent: int = 0  # published again through the live path
    still_refused: int = 0  # the cause remains: a new letter made at once
    not_replayable: int = 0  # stages that keep no original message


def replay(settings: Settings, letters: list[Letter], conn: psycopg.Connection) -> Replayed:
    """Send each letter again (or letter it anew), then mark it replayed."""
    kinds = registry(settings.plugins)
    validator = Validator(catalog_of(settings), kinds, settings)
    # a gateway's letters keep the packet as its device sent it over TCP: it goes back there
    gateways = {c.name for k in kinds.values() for c in k.components if c.tcp}
    outcome, messages, anew, done = Replayed(), [], [], []
    now = datetime.now(UTC)
    for x in letters:
        if x.stage != INGEST and x.stage not in gateways:
            outcome.not_replayable += 1
            continue
        done.append(x)
        if x.stage in gateways:
            messages.append(SimMessage(time.time(), "", x.payload, "replay", (), via=x.stage))
            continue
        checked = validator(x.source, x.payload, now)
        if checked.count == 0:  # nothing of it would go on: the cause remains
            anew += checked.letters
            continue
        messages.append(SimMessage(time.time(), x.source, x.payload, x.source.split("/")[-1], ()))
    publisher = DevicePublisher(settings)
    try:
        publisher.run(messages)
    finally:
        publisher.close()
    outcome.sent, outcome.still_refused = len(messages), len(done) - len(messages)
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dead_letters (received_at, stage, reason, source, payload, "
            "payload_sha) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [dead_letter_row(json.loads(DeadLetter.model_dump_json(letter)))
             for letter in anew])
        cur.executemany(
            "UPDATE dead_letters SET replayed_at = now() WHERE received_at = %s AND "
            "source = %s AND payload_sha = %s AND reason = %s",
            [(x.received_at, x.source, x.payload_sha, x.reason) for x in done])
    return outcome


def cmd_replay(settings: Settings, args: argparse.Namespace) -> None:
    with psycopg.connect(Credentials(settings).dsn("writer")) as conn:
        letters = select(conn, args, unreplayed=True)
        outcome = replay(settings, letters, conn)
    print(f"{len(letters)} dead letters not replayed before: {outcome.sent} sent again through "
          f"the live validation, {outcome.still_refused} still refused (a new letter each, "
          f"with today's reason), {outcome.not_replayable} of stages that keep no original "
          f"message (only the bridge's and the gateways' letters can be replayed)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    letters = sub.add_parser("deadletters", help="refused messages: list them, replay them "
                             "once their cause is fixed")
    actions = letters.add_subparsers(dest="action", required=True)
    for name, func, what in (
            ("list", cmd_list, "print the dead letters the filters take, oldest first"),
            ("replay", cmd_replay, ("send the letters never replayed through the live "
             "validation again, and mark them replayed"))):
        p = actions.add_parser(name, help=what)
        p.set_defaults(func=func)
        p.add_argument("--stage", help="ingest, a gateway component's name, sink, or a processor's name")
        p.add_argument("--reason", help="letters whose reason contains this text (any case)")
        p.add_argument("--since", type=instant, metavar="ISO", help="received at or after")
        p.add_argument("--until", type=lambda t: instant(t, end=True), metavar="ISO",
                       help="received at or before (a date alone: to its end)")
        p.add_argument("--id", action="append", help="only this letter (repeatable)")
        if name == "list":
            p.add_argument("--json", action="store_true",
                           help='one JSON array of {"id", "stage", "reason", "source", '
                                '"received_at", "replayed_at", "payload", "payload_bytes"}')
