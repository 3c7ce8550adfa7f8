"""The `fjsense` command: local stack, components in the foreground, simulators, dashboards."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from fjsense.catalog import load_catalog
from fjsense.settings import Settings, masked, unknown_variables

console = Console(stderr=True)


def duration(text: str) -> timedelta:
    """``10s``, ``5m``, ``2h`` or plain seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 10s, 5m, 2h)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    return timedelta(seconds=float(match.group(1)) * unit)


def cooling_fault(text: str) -> tuple[str, float, float, float]:
    """``SITE:START_MIN:DURATION_MIN:FACTOR``, e.g. ``changle-dc1:30:40:3``."""
    try:
        site, start, length, factor = text.split(":")
        return site, float(start), float(length), float(factor)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not SITE:START_MIN:DURATION_MIN:FACTOR: {text!r}") from None


def counter_reset(text: str) -> tuple[str, float]:
    """``DEVICE@MINUTE``, e.g. ``anxi-dc1-m02@50``."""
    try:
        device, minute = text.split("@")
        return device, float(minute)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not DEVICE@MINUTE: {text!r}") from None


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
    Console().print(table)


def cmd_credentials(settings: Settings, args: argparse.Namespace) -> None:
    from fjsense.credentials import Credentials
    from fjsense.stack import LocalStack

    if load_catalog(settings.catalog_file).device(args.device) is None:
        raise SystemExit(f"error: unknown device {args.device!r}: add it to the station catalog")
    login = Credentials(settings).device(args.device)
    if not settings.mqtt.external:
        LocalStack(settings).refresh_mqtt_auth()
    print(json.dumps({"username": login.username, "password": login.password}))


def cmd_broker_auth(settings: Settings, args: argparse.Namespace) -> None:
    from fjsense.credentials import Credentials
    from fjsense.mqtt_auth import acl_file, password_file

    catalog = load_catalog(settings.catalog_file)
    creds = Credentials(settings)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in (("passwd", password_file(catalog, creds)),
                       ("acl", acl_file(catalog, creds, settings.alerts.mqtt_topic_prefix))):
        (args.out / name).write_text(text)
        (args.out / name).chmod(0o640)
    console.print(f"wrote {args.out / 'passwd'} and {args.out / 'acl'}")


def cmd_catalog(settings: Settings, args: argparse.Namespace) -> None:
    catalog = load_catalog(settings.catalog_file)
    if args.json:
        print(catalog.model_dump_json(indent=2))
        return
    table = Table("site", "name", "device", "kind", "circuit", "rated kW")
    for site, device in catalog.devices():
        table.add_row(site.id, site.name, device.id, device.kind, device.circuit or "",
                      f"{device.rated_kw:g}" if device.rated_kw else "")
    Console().print(table)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    from sinks.migrate import bootstrap

    applied = bootstrap(settings)
    console.print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")


def cmd_bridge(settings: Settings, args: argparse.Namespace) -> None:
    import signal

    from fjsense.kafka_admin import ensure_topics
    from ingest.mqtt_kafka import MqttKafkaBridge

    ensure_topics(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    MqttKafkaBridge(settings, load_catalog(settings.catalog_file)).run(stop)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    from fjsense.kafka_admin import ensure_topics
    from streams.app import run_worker

    ensure_topics(settings)
    run_worker(settings, args.loglevel)


def cmd_sink(settings: Settings, args: argparse.Namespace) -> None:
    from fjsense.kafka_admin import ensure_topics
    from sinks.runner import main as sink_main

    ensure_topics(settings)
    sink_main(settings)


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> None:
    from simulators.cli import simulate_power

    simulate_power(settings, args)


def cmd_dashboards_build(settings: Settings, args: argparse.Namespace) -> None:
    from dashboards.build import write_provisioning

    written = write_provisioning(settings, args.out)
    console.print(f"wrote {len(written)} files under {args.out}")


def cmd_dashboards_publish(settings: Settings, args: argparse.Namespace) -> None:
    from dashboards.publish import publish

    if not args.token:
        raise SystemExit("error: no Grafana token: set FJSENSE_GRAFANA_TOKEN or pass --token")
    for uid, status in publish(args.url, args.token, settings):
        console.print(f"{uid}: {status}")


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from fjsense.demo import run_demo

    run_demo(settings, minutes=args.minutes, sites=args.sites, speed=args.speed)


def build_parser() -> argparse.ArgumentParser:
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
    add("catalog", cmd_catalog, "list sites and devices").add_argument(
        "--json", action="store_true")
    db = sub.add_parser("db", help="database").add_subparsers(required=True)
    add("migrate", cmd_migrate, "create database and roles, apply migrations", db)
    add("bridge", cmd_bridge, "run the MQTT → Kafka bridge in the foreground")
    add("worker", cmd_worker, "run the stream processors in the foreground").add_argument(
        "--loglevel", default="warning")
    add("sink", cmd_sink, "run the Kafka → database sink in the foreground")

    simulate = sub.add_parser("simulate", help="simulators").add_subparsers(required=True)
    sim = add("power", cmd_simulate, "simulated datacenter power meters", simulate)
    sim.add_argument("--sites", type=int, default=3)
    sim.add_argument("--interval", type=duration, default=timedelta(seconds=10))
    sim.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second; 0 = unpaced")
    sim.add_argument("--minutes", type=float, default=None, help="wall-clock minutes; default: forever")
    sim.add_argument("--duration", type=duration, default=None,
                     help="simulated span (e.g. 2h); default: minutes × speed")
    sim.add_argument("--seed", type=int, default=0)
    for fault in ("dropout", "duplicate", "reorder", "malformed"):
        sim.add_argument(f"--{fault}", type=float, default=0.0, help=f"probability of {fault}")
    sim.add_argument("--counter-reset", action="append", default=[], type=counter_reset,
                     metavar="DEVICE@MINUTE")
    sim.add_argument("--cooling-fault", action="append", default=[], type=cooling_fault,
                     metavar="SITE:START_MIN:DURATION_MIN:FACTOR")

    dash = sub.add_parser("dashboards", help="Grafana dashboards").add_subparsers(required=True)
    add("build", cmd_dashboards_build, "write dashboards and provisioning files", dash
        ).add_argument("--out", type=Path, default=Path("build/grafana"))
    pub = add("publish", cmd_dashboards_publish, "push dashboards through Grafana's API", dash)
    pub.add_argument("--url", required=True)
    pub.add_argument("--token", default=os.environ.get("FJSENSE_GRAFANA_TOKEN"),
                     help="service account token; better from FJSENSE_GRAFANA_TOKEN")

    demo = add("demo", cmd_demo, "the whole pipeline on the embedded stack, with a live view")
    demo.add_argument("--minutes", type=float, default=5.0)
    demo.add_argument("--sites", type=int, default=4)
    demo.add_argument("--speed", type=float, default=60.0)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    unknown = unknown_variables(dict(os.environ))
    if unknown:
        raise SystemExit(f"error: bad configuration: no such setting: {', '.join(unknown)}")
    try:
        settings = Settings()
    except ValidationError as exc:
        raise SystemExit(f"error: bad configuration:\n{exc}") from None
    from fjsense.stack.service import ServiceError

    try:
        args.func(settings, args)
    except (ServiceError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
