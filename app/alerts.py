"""`fjsense alerts check|list|ack|silence|silences|history`: the operator's side of alerting.

``check`` needs no server; the others read and write the database (as the writer role).
"""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb
from rich.table import Table

from dashboards.links import panel_links
from fjsense import output
from fjsense.catalog import catalog_of
from fjsense.credentials import Credentials
from fjsense.rulefile import operator_rule_file, read_rule_files, seconds
from fjsense.rules import explain, rules_of
from fjsense.settings import Settings
from sinks.routing import load_routes
from sinks.templates import FIELDS_OF, Templates, sample_events

FIRING_NOW = (
    "SELECT latest.rule, latest.group_key, latest.at, latest.value, latest.severity, "
    "latest.summary, latest.inhibited, latest.silenced_by, a.acked_by, a.comment "
    "FROM (SELECT DISTINCT ON (rule, group_key) * FROM alert_events WHERE state <> 'pending' "
    "ORDER BY rule, group_key, at DESC) latest LEFT JOIN alert_acks a ON a.rule = latest.rule "
    "AND a.group_key = latest.group_key AND a.fired_at = latest.at "
    "WHERE latest.state = 'firing' ORDER BY latest.at")


def check(settings: Settings, path: Path | None) -> tuple[list[str], list[str], int]:
    """Every rule (the kinds' merged with ``path``'s) and every route of ``path``, in one
    line each, and how many templates rendered with sample alerts; raises on the first
    problem, naming its file, line and field."""
    catalog = catalog_of(settings)
    rules = rules_of(read_rule_files(settings, path), settings, catalog)
    doc = operator_rule_file(settings, path)
    routes = load_routes(settings, doc)
    templates = Templates(settings, doc, routes, panel_links(settings, rules))
    rendered = templates.check(routes, sample_events(rules, catalog, datetime.now(UTC)))
    return [explain(rule) for rule in rules.rules], [
        f"route {r.name}: {' and '.join(f'{k}={v}' for k, v in r.match.items()) or 'all'}"
        f" → {', '.join(n + (f' ({templates.lang_of(n)})' if n in FIELDS_OF else '') for n in r.receivers)}, grouped by "
        f"{', '.join(r.group_by)} (wait {r.group_wait:g}s, interval {r.group_interval:g}s, "
        f"repeat {r.repeat_interval:g}s)" for r in routes], rendered


def cmd_alerts(settings: Settings, args: argparse.Namespace) -> None:
    console = output.console()
    if args.action == "check":
        rules, routes, rendered = check(settings, args.file)
        named = args.file or settings.alerts.rules_file or "the platform's and the kinds' shipped rules"
        console.print(f"{named}: {len(rules)} rules, {len(routes)} routes, all valid; "
                      f"{rendered} template renderings with sample alerts", style="green")
        for line in rules + routes:
            print(line)
        return
    with psycopg.connect(Credentials(settings).dsn("writer"), autocommit=True) as conn:
        if args.action == "list":
            rows = conn.execute(FIRING_NOW).fetchall()
            if args.json:
                names = ("rule", "group_key", "since", "value", "severity", "summary",
                         "inhibited", "silenced_by", "acked_by", "ack_comment")
                print(json.dumps([dict(zip(names, r, strict=True)) for r in rows], default=str))
                return
            table = Table("rule", "group", "since", "value", "severity", "acknowledged",
                          "muted", "summary", title="firing now")
            for (rule, group, at, value, severity, summary, inhibited, silenced, by,
                 comment) in rows:
                table.add_row(rule, group, f"{at:%Y-%m-%d %H:%M:%S}",
                              "" if value is None else f"{value:.3f}", severity,
                              f"{by}: {comment or ''}" if by else "",
                              inhibited or silenced or "", summary)
            console.print(table)
        elif args.action == "ack":
            row = conn.execute(
                "SELECT at FROM (" + FIRING_NOW + ") f WHERE rule = %s AND group_key = %s",
                [args.rule, args.group]).fetchone()
            if row is None:
                raise SystemExit(f"error: {args.rule} is not firing for {args.group}")
            conn.execute("INSERT INTO alert_acks (rule, group_key, fired_at, acked_by, comment) "
                         "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                         [args.rule, args.group, row[0], args.by, args.comment])
            console.print(f"acknowledged {args.rule} for {args.group} (firing since {row[0]})")
        elif args.action == "silence":
            matchers = dict(m.split("=", 1) for m in args.match)
            start = datetime.fromisoformat(args.start) if args.start else datetime.now(UTC)
            end = (datetime.fromisoformat(args.end) if args.end
                   else start + timedelta(seconds=seconds(args.duration)))
            ident = uuid.uuid4().hex[:12]
            conn.execute("INSERT INTO alert_silences (id, matchers, starts_at, ends_at, "
                         "created_by, comment) VALUES (%s, %s, %s, %s, %s, %s)",
                         [ident, Jsonb(matchers), start, end, args.by, args.comment])
            print(json.dumps({"id": ident, "matchers": matchers, "starts_at": start.isoformat(),
                              "ends_at": end.isoformat()}))
        elif args.action == "silences":
            table = Table("id", "matchers", "starts", "ends", "by", "comment", title="silences")
            for ident, matchers, start, end, by, comment in conn.execute(
                    "SELECT id, matchers, starts_at, ends_at, created_by, comment FROM "
                    "alert_silences WHERE ends_at > now() ORDER BY starts_at"):
                table.add_row(ident, json.dumps(matchers), f"{start:%Y-%m-%d %H:%M}",
                              f"{end:%Y-%m-%d %H:%M}", by, comment or "")
            console.print(table)
        else:  # history
            since = datetime.now(UTC) - timedelta(seconds=seconds(args.since))
            rows = conn.execute(
                    "SELECT e.at, e.rule, e.group_key, e.state, e.value, "
                    "CASE WHEN NOT e.notify THEN 'no' WHEN e.silenced_by IS NOT NULL THEN "
                    "'muted: ' || e.silenced_by WHEN e.claimed_at IS NULL THEN 'waiting' "
                    "ELSE 'yes' END, e.summary FROM alert_events e "
                    "WHERE e.stored_at >= %s AND (%s::text IS NULL OR e.rule = %s) "
                    "AND (%s::text IS NULL OR e.group_key = %s) ORDER BY e.at DESC LIMIT %s",
                    [since, args.rule, args.rule, args.group, args.group, args.limit]).fetchall()
            if args.json:
                fields = ("at", "rule", "group_key", "state", "value", "notified", "summary")
                print(json.dumps([dict(zip(fields, r, strict=True)) for r in rows], default=str))
                return
            table = Table("at", "rule", "group", "state", "value", "notified", "summary",
                          title="alert history")
            for at, rule, group, state, value, notified, summary in rows:
                table.add_row(f"{at:%Y-%m-%d %H:%M:%S}", rule, group, state,
                              "" if value is None else f"{value:.3f}", notified, summary)
            console.print(table)


def add_parser(sub: argparse._SubParsersAction) -> None:
    alerts = sub.add_parser("alerts", help="alert rules, firing alerts, acks, silences")
    actions = alerts.add_subparsers(dest="action", required=True)
    check_p = actions.add_parser("check", help="validate the rules (every kind's, merged with "
                                 "a rule file's) and explain each rule")
    check_p.add_argument("file", type=Path, nargs="?",
                         help="the operator's rule file; default: alerts.rules_file, if set")
    actions.add_parser("list", help="alerts firing now").add_argument("--json", action="store_true")
    ack = actions.add_parser("ack", help="acknowledge a firing alert: no more repeats")
    ack.add_argument("rule")
    ack.add_argument("group", help="the station, site, device or region it fires for")
    ack.add_argument("--by", required=True)
    ack.add_argument("--comment")
    silence = actions.add_parser("silence", help="mute alerts matching labels for a while")
    silence.add_argument("--match", action="append", required=True, metavar="LABEL=VALUE")
    silence.add_argument("--start", help="ISO time; default now")
    group = silence.add_mutually_exclusive_group(required=True)
    group.add_argument("--for", dest="duration", help="e.g. 2h")
    group.add_argument("--end", help="ISO time")
    silence.add_argument("--by", required=True)
    silence.add_argument("--comment")
    actions.add_parser("silences", help="silences active now or later")
    history = actions.add_parser("history", help="transitions and whether they were notified")
    history.add_argument("--rule")
    history.add_argument("--group")
    history.add_argument("--since", default="24h",
                         help="how far back, as 90s, 30m, 24h or seconds (default 24h)")
    history.add_argument("--limit", type=int, default=100,
                         help="transitions shown at most, newest first (default 100)")
    history.add_argument("--json", action="store_true")
    for parser in actions.choices.values():
        parser.set_defaults(func=cmd_alerts)
