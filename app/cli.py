"""The `fjsense` command: local stack, components in the foreground, simulators, dashboards.

It is the top floor (``app/``): it stands on the stages and the kinds, which never import it;
each kind adds its own commands, components and simulator through the registry."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.table import Table

from app.processes import all_components
from fjsense import output
from fjsense.arguments import instant
from fjsense.catalog import CatalogError, catalog_of
from fjsense.registry import SensorKind, registry
from fjsense.settings import Settings, masked, unknown_variables

console = output.console(stderr=True)


def cmd_config(settings: Settings, args: argparse.Namespace) -> None:
    print(json.dumps(masked(settings), indent=2))


def cmd_up(settings: Settings, args: argparse.Namespace) -> None:
    from fjsense.kafka_admin import ensure_topics
    from fjsense.stack import LocalStack
    from sinks.migrate import bootstrap

    stack = LocalStack(settings)
    with console.status("starting the local stack…"):
        stack.up()
        ensure_topics(settings)
        applied = bootstrap(settings)
    if applied:
        console.print(f"migrations applied: {', '.join(applied)}")
    cmd_status(settings, args)


def cmd_down(settings: Settings, args: argparse.Namespace) -> None:
    from fjsense.stack import LocalStack

    stopped = LocalStack(settings).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


def cmd_status(settings: Settings, args: argparse.Namespace) -> None:
    from fjsense.stack import LocalStack

    table = Table("service", "where", "pid", "state")
    for row in LocalStack(settings).status():
        state = "external" if row.external else ("up" if row.healthy else "down")
        table.add_row(row.name, row.where, str(row.pid or "-"), state)
    output.console().print(table)


def cmd_credentials(settings: Settings, args: argparse.Namespace) -> None:
    from fjsense.credentials import Credentials
    from fjsense.stack import LocalStack

    if catalog_of(settings).device(args.device) is None:
        raise SystemExit(f"error: unknown device {args.device!r}: add it to the station catalog")
    login = Credentials(settings).device(args.device)
    if not settings.mqtt.external:
        LocalStack(settings).refresh_mqtt_auth()
    print(json.dumps({"username": login.username, "password": login.password}))


def cmd_broker_auth(settings: Settings, args: argparse.Namespace) -> None:
    from fjsense.credentials import Credentials
    from fjsense.mqtt_auth import acl_file, password_file

    catalog = catalog_of(settings)
    creds = Credentials(settings)
    args.out.mkdir(parents=True, exist_ok=True)
    acl = acl_file(catalog, creds, settings.alerts.mqtt_topic_prefix, settings.plugins,
                   settings.broadcast.topic_prefix)
    for name, text in (("passwd", password_file(catalog, creds)), ("acl", acl)):
        (args.out / name).write_text(text)
        (args.out / name).chmod(0o640)
    console.print(f"wrote {args.out / 'passwd'} and {args.out / 'acl'}")


def cmd_catalog(settings: Settings, args: argparse.Namespace) -> None:
    catalog = catalog_of(settings)
    if args.json:
        data = catalog.model_dump(mode="json")
        for site in data["sites"]:  # each device says where it is: a cell's district
            for device in site["devices"]:
                device.update(site=site["id"], district=site["district"], region=site["region"])
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    table = Table("kind", "region", "district", "site", "name", "device", "fields")
    for site, device in catalog.devices():
        fields = ", ".join(f"{k}={v}" for k, v in device.spec.model_dump().items())
        table.add_row(device.kind, site.region, site.district or "", site.id, site.name,
                      device.id, fields)
    output.console().print(table)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    from sinks.migrate import bootstrap

    applied = bootstrap(settings)
    console.print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")


def cmd_db_status(settings: Settings, args: argparse.Namespace) -> None:
    import psycopg

    from fjsense.credentials import Credentials
    from sinks.migrate import status

    with psycopg.connect(Credentials(settings).dsn("admin")) as conn:
        steps = status(conn, settings.plugins)
    table = Table("step", "state", "variant", "applied at")
    for version, variant, at in steps:
        table.add_row(version, "applied" if at else "pending", variant or "",
                      f"{at:%Y-%m-%d %H:%M:%S %Z}" if at else "")
    output.console().print(table)


def cmd_db_refresh(settings: Settings, args: argparse.Namespace) -> None:
    import asyncio

    import psycopg

    from fjsense.credentials import Credentials
    from sinks.refresh import refresh_noted, refresh_span

    async def refresh() -> list[tuple[str, datetime, datetime]]:
        async with await psycopg.AsyncConnection.connect(
                Credentials(settings).dsn("admin"), autocommit=True) as conn:
            if args.since is None and args.until is None:
                return await refresh_noted(conn)
            return await refresh_span(conn, args.since, args.until)

    done = asyncio.run(refresh())
    for view, start, end in done:
        print(f"refreshed {view} from {start.isoformat()} to {end.isoformat()}")
    if not done:
        print("nothing to refresh")


def cmd_bridge(settings: Settings, args: argparse.Namespace) -> None:
    import signal

    from fjsense.health import HealthServer
    from fjsense.kafka_admin import ensure_topics
    from ingest.mqtt_kafka import MqttKafkaBridge

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    bridge = MqttKafkaBridge(settings, catalog_of(settings), args.client_id)
    server = HealthServer(bridge.health, settings.health.host, health_port(settings, args))
    try:
        ensure_topics(settings)
        bridge.run(stop)
    finally:
        server.close()


def positive_count(text: str) -> int:
    """An instance count: 1 or more."""
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"{count} is not 1 or more")
    return count


def health_port(settings: Settings, args: argparse.Namespace) -> int:
    """The component's health port: ``--health-port`` when given (each of several instances
    needs its own), else its setting."""
    return settings.health_port(args.command) if args.health_port is None else args.health_port


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    from fjsense.kafka_admin import ensure_topics
    from streams.app import run_worker

    ensure_topics(settings)
    run_worker(settings, args.loglevel, health_port(settings, args))


def cmd_sink(settings: Settings, args: argparse.Namespace) -> None:
    from fjsense.health import Health, HealthServer
    from fjsense.kafka_admin import ensure_topics
    from sinks.runner import main as sink_main

    health = Health("sink")
    server = HealthServer(health, settings.health.host, health_port(settings, args))
    try:
        ensure_topics(settings)
        sink_main(settings, health)
    finally:
        server.close()


def cmd_notify(settings: Settings, args: argparse.Namespace) -> None:
    import signal

    from fjsense.health import HealthServer
    from sinks.notify import Notifier

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    notifier = Notifier(settings)
    server = HealthServer(notifier.health, settings.health.host, settings.health.notify_port)
    try:
        notifier.run(stop)
    finally:
        server.close()


def cmd_component(settings: Settings, args: argparse.Namespace) -> None:
    """A kind's component (e.g. a gateway) in the foreground."""
    args.component.run()(settings)


def cmd_run(settings: Settings, args: argparse.Namespace) -> None:
    from app.supervise import run_supervised

    run_supervised(settings, {"worker": args.workers, "sink": args.sinks})


def cmd_health(settings: Settings, args: argparse.Namespace) -> None:
    from app.healthcheck import brief, health_checks

    checks = health_checks(settings, args.component)
    if args.json:
        print(json.dumps([{"what": c.what, "name": c.name, "ok": c.ok, "state": c.state,
                           **c.detail} for c in checks], default=str, indent=2))
    else:
        table = Table("", "what", "name", "state", "detail")
        for c in checks:
            detail = ", ".join(f"{k}={brief(v)}" for k, v in c.detail.items())
            mark = "✗" if not c.ok else "!" if c.state == "warning" else "✓"
            table.add_row(mark, c.what, c.name, c.state, detail)
        output.console().print(table)
    if not all(c.ok for c in checks):
        raise SystemExit(1)


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> None:
    from simulators.cli import simulate

    stats = simulate(settings, args)
    console.print(f"published {stats.published:,} messages ({stats.readings:,} readings) as "
                  f"{args.kind} devices")


def cmd_simulate_broadcast(settings: Settings, args: argparse.Namespace) -> None:
    from simulators.broadcast_points import SimulatedPoints, chosen_points, heard_line

    try:
        chosen = chosen_points(catalog_of(settings), args.points)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None

    def say(heard: Any) -> None:
        print(json.dumps({"point": heard.point.id, "acked": heard.acked, **heard.payload},
                         ensure_ascii=False) if args.json else heard_line(heard), flush=True)

    points = SimulatedPoints(settings, chosen, say, args.silent)
    try:
        if not points.wait_subscribed():
            raise SystemExit("error: the broadcast points could not subscribe (is the MQTT "
                             "broker up, and do they have logins? fjsense up)")
        console.print(f"{len(chosen)} broadcast points listening on "
                      f"{settings.broadcast.topic_prefix}/<point>; Ctrl-C stops")
        threading.Event().wait(args.minutes * 60 if args.minutes is not None else None)
    except KeyboardInterrupt:
        pass
    finally:
        points.close()


def cmd_replay(settings: Settings, args: argparse.Namespace) -> None:
    from simulators.replay import replay

    try:
        stats = replay(settings, catalog_of(settings), args.file, args.station, args.speed,
                       console)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    console.print(f"published {stats.readings} readings")


def cmd_dashboards_build(settings: Settings, args: argparse.Namespace) -> None:
    from dashboards.build import write_provisioning

    written = write_provisioning(settings, args.out, local=args.local)
    console.print(f"wrote {len(written)} files under {args.out}")
    if args.local:
        console.print(f"for your own Grafana: set paths.provisioning (GF_PATHS_PROVISIONING) to "
                      f"{(args.out / 'provisioning').resolve()}; its data source reads the "
                      f"embedded database at 127.0.0.1:{settings.database.port} as "
                      f"{settings.database.reader_user}")


def cmd_db_shell(settings: Settings, args: argparse.Namespace) -> None:
    """psql as a database role, its password from the environment or the secrets file."""
    import shutil

    from fjsense.credentials import Credentials

    psql = shutil.which("psql")
    if psql is None:
        raise SystemExit("error: psql is missing: install the PostgreSQL client (e.g. "
                         "'sudo apt-get install postgresql-client')")
    db, login = settings.database, Credentials(settings).db(args.role)
    psql_args = args.psql_args[1:] if args.psql_args[:1] == ["--"] else args.psql_args
    env = {**os.environ, "PGPASSWORD": login.password}
    os.execve(psql, [psql, "-h", db.host or "127.0.0.1", "-p", str(db.port), "-U",
                     login.username, "-d", db.name, *psql_args], env)


def cmd_dashboards_publish(settings: Settings, args: argparse.Namespace) -> None:
    from dashboards.publish import publish

    if not args.token:
        raise SystemExit("error: no Grafana token: set FJSENSE_GRAFANA_TOKEN or pass --token")
    for uid, status in publish(args.url, args.token, settings):
        console.print(f"{uid}: {status}")


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from app.demo import run_demo

    run_demo(settings, minutes=args.minutes, speed=args.speed)


def build_parser(kinds: dict[str, SensorKind] | None = None) -> argparse.ArgumentParser:
    """The command line; ``simulate`` has one sub-command per kind with a simulator."""
    from simulators.cli import add_parsers

    kinds = registry() if kinds is None else kinds
    parser = argparse.ArgumentParser(prog="fjsense", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[Settings, argparse.Namespace], None], help: str,
            parent: argparse._SubParsersAction = sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help)
        p.set_defaults(func=func)
        return p

    config = sub.add_parser("config", help="configuration").add_subparsers(required=True)
    add("show", cmd_config, "print the effective configuration, secrets masked", config)
    add("up", cmd_up, "start the local stack (Mosquitto, Tansu, PostgreSQL) and migrate")
    add("down", cmd_down, "stop what `up` started")
    add("status", cmd_status, "show what runs where")
    add("credentials", cmd_credentials, "print a device's MQTT login as JSON").add_argument(
        "device")
    add("broker-auth", cmd_broker_auth,
        "write Mosquitto's password file and ACL from the catalog (for an external broker)"
        ).add_argument("--out", type=Path, required=True)
    add("catalog", cmd_catalog, "list sites and devices of every kind").add_argument(
        "--json", action="store_true")
    db = sub.add_parser("db", help="database").add_subparsers(required=True)
    add("migrate", cmd_migrate, "create database and roles, apply migrations", db)
    add("status", cmd_db_status, "show the applied and pending migration steps", db)
    refresh = add("refresh", cmd_db_refresh, "refresh the continuous aggregates: the buckets the "
                  "sink wrote into and has not refreshed yet, or with --since/--until every "
                  "aggregate over that span", db)
    refresh.add_argument("--since", type=instant, metavar="ISO", help="from (UTC unless given)")
    refresh.add_argument("--until", type=lambda t: instant(t, end=True), metavar="ISO",
                         help="to (a date alone: its end)")
    shell = add("shell", cmd_db_shell, "psql as a database role (password from the "
                "environment or the secrets file)", db)
    shell.add_argument("--role", choices=("reader", "writer", "admin"), default="reader",
                       help="reader (read-only, default), writer or admin")
    shell.add_argument("psql_args", nargs=argparse.REMAINDER,
                       help="after --, passed to psql, e.g. -- -c 'SELECT count(*) FROM "
                            "buoy_observations'")
    bridge = add("bridge", cmd_bridge, "run the MQTT → Kafka bridge in the foreground")
    bridge.add_argument(
        "--client-id", default=None, help="MQTT client id (its persistent session); default: "
        "the ingest.client_id setting; give each bridge its own")
    worker = add("worker", cmd_worker, "run the stream processors in the foreground")
    worker.add_argument("--loglevel", default="warning")
    sink = add("sink", cmd_sink, "run the Kafka → database sink in the foreground")
    for name, scalable in (("bridge", bridge), ("worker", worker), ("sink", sink)):
        scalable.add_argument("--health-port", type=int, default=None,
                            help=f"health endpoint port; default: health.{name}_port; 0: none; "
                            "give each of several instances its own")
    for kind in kinds.values():
        for component in kind.components:
            add(component.name, cmd_component, component.help).set_defaults(
                component=component)
    add("notify", cmd_notify, "run the alert notifier (routes, grouping, receivers) in the "
        "foreground")
    run = add("run", cmd_run, "run bridge, worker, sink, notifier and the kinds' components "
              f"({', '.join(c.name for k in kinds.values() for c in k.components) or 'none'}) "
              "as one supervised group (restarted with backoff when they exit)")
    for scaled in ("workers", "sinks"):
        run.add_argument(f"--{scaled}", type=positive_count, default=1,
                         help=f"how many {scaled} share the partitions (default 1; the second "
                         "and later on health ports of their own)")
    from app.alerts import add_parser as add_alerts
    from app.deadletters import add_parser as add_deadletters
    from app.export import add_parser as add_export
    from app.report import add_parser as add_report

    add_alerts(sub)
    add_deadletters(sub)
    add_export(sub)
    add_report(sub)
    for kind in kinds.values():
        for add_parser in kind.load("commands"):
            add_parser(sub)
    health = add("health", cmd_health, "every component, server and consumer lag; exit 1 "
                 "when something is wrong")
    health.add_argument("--component",
                        choices=("run", *all_components(kinds)),
                        help="only this component's own endpoint (a container healthcheck)")
    health.add_argument("--json", action="store_true")

    simulate = sub.add_parser("simulate", help="simulators").add_subparsers(required=True)
    add_parsers(simulate, kinds)
    for choice in simulate.choices.values():
        choice.set_defaults(func=cmd_simulate)
    points = simulate.add_parser("broadcast", help="the coast's broadcast points: listen, say "
                                 "what the speaker would read out, acknowledge")
    points.add_argument("--points", nargs="+", metavar="ID", help="only these (default: all)")
    points.add_argument("--silent", nargs="+", default=[], metavar="ID",
                        help="points that listen but never acknowledge")
    points.add_argument("--minutes", type=float, default=None,
                        help="wall-clock minutes; default: until interrupted")
    points.add_argument("--json", action="store_true",
                        help="one JSON line per broadcast heard: point, acked and the payload")
    points.set_defaults(func=cmd_simulate_broadcast)

    formats = "; ".join(f"{k.name}: {k.recording_formats}" for k in kinds.values()
                        if k.recording_formats)
    rep = add("replay", cmd_replay, f"publish a recorded file ({formats}) over MQTT as a "
              "catalog station, in time order, with the file's timestamps")
    rep.add_argument("file", type=Path)
    rep.add_argument("--as", dest="station", required=True, metavar="STATION")
    rep.add_argument("--speed", type=float, default=0.0,
                     help="recorded seconds per second; 0 = as fast as the pipeline takes it")

    dash = sub.add_parser("dashboards", help="Grafana dashboards").add_subparsers(required=True)
    build = add("build", cmd_dashboards_build, "write dashboards and provisioning files", dash)
    build.add_argument("--out", type=Path, default=Path("build/grafana"))
    build.add_argument("--local", action="store_true",
                       help="provisioning for a Grafana of your own on this machine: the "
                            "embedded database (127.0.0.1, database.port) as the reader role")
    pub = add("publish", cmd_dashboards_publish, "push dashboards through Grafana's API", dash)
    pub.add_argument("--url", required=True)
    pub.add_argument("--token", default=os.environ.get("FJSENSE_GRAFANA_TOKEN"),
                     help="service account token; better from FJSENSE_GRAFANA_TOKEN")

    demo = add("demo", cmd_demo, "the whole pipeline on the embedded stack, with a live view")
    demo.add_argument("--minutes", type=float, default=5.0)
    demo.add_argument("--speed", type=float, default=60.0)
    return parser


def _plugins_named_in(environ: os._Environ[str]) -> tuple[str, ...]:
    """The plugins of ``FJSENSE_PLUGINS`` (a JSON list), for judging the other variables."""
    try:
        named = json.loads(environ.get("FJSENSE_PLUGINS", "[]"))
        return tuple(p for p in named if isinstance(p, str)) if isinstance(named, list) else ()
    except ValueError:
        return ()


def main(argv: list[str] | None = None) -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        unknown = unknown_variables(dict(os.environ), _plugins_named_in(os.environ))
        if unknown:
            raise SystemExit(f"error: bad configuration: no such setting: {', '.join(unknown)}")
        problems = "\n".join(
            f"  {'.'.join(map(str, e['loc'])) or 'settings'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors(include_url=False, include_input=False))
        raise SystemExit(f"error: bad configuration:\n{problems}") from None
    unknown = unknown_variables(dict(os.environ), settings.plugins)
    if unknown:
        raise SystemExit(f"error: bad configuration: no such setting: {', '.join(unknown)}")
    args = build_parser(registry(settings.plugins)).parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from fjsense.stack.service import ServiceError

    try:
        args.func(settings, args)
    except (ServiceError, CatalogError, ValueError, psycopg_error()) as exc:
        raise SystemExit(f"error: {exc}") from None
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # `fjsense … | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


def psycopg_error() -> type[Exception]:
    """Database errors of the commands that use one, said in one line."""
    import psycopg

    return psycopg.Error


if __name__ == "__main__":
    main()
