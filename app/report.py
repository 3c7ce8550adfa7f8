"""`fjsense report --period day|week|month [--date YYYY-MM-DD] --out DIR`: the province's
report over a Beijing calendar period: ``report.json`` (every figure, under the keys the
README lists), ``report.html`` (one self-contained page, charts inline, in Chinese with English
subtitles) and, where Chromium is installed, ``report.pdf`` (the same page, printed by it)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import psycopg

from dashboards.alerts_report import alerts_section
from dashboards.report import BEIJING, Period, Section
from fjsense.catalog import catalog_of
from fjsense.credentials import Credentials
from fjsense.registry import registry
from fjsense.settings import Settings
from fjsense.stack import LocalStack

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-pdf-header-footer")


def sections(settings: Settings, period: Period) -> list[Section]:
    """Every kind's sections, then the alerts', read as the reader role."""
    catalog = catalog_of(settings)
    with psycopg.connect(Credentials(settings).dsn("reader")) as conn:
        found = [make(conn, settings, catalog, period)
                 for kind in registry(settings.plugins).values() for make in kind.load("report")]
        found.append(alerts_section(conn, settings, catalog, period))
    return found


def as_json(period: Period, found: list[Section], generated: datetime) -> dict[str, Any]:
    """``report.json``: the period, then each section's figures under its key, with its
    verdict and data quality."""
    data: dict[str, Any] = {"period": {"kind": period.kind, "first": period.first.isoformat(),
                                       "last": period.last.isoformat(),
                                       "timezone": "Asia/Shanghai"},
                            "generated": generated.isoformat(timespec="seconds")}
    for section in found:
        data[section.key] = {**section.figures, "met": section.met, "quality": section.quality,
                             "verdict": section.verdict_en}
    return data


def as_html(period: Period, found: list[Section], generated: datetime) -> str:
    """``report.html``: one page, charts inline, nothing fetched."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(resources.files("dashboards").joinpath("report.html.j2")
                               .read_text(encoding="utf-8"))
    return template.render(period=period.label(), sections=[dataclasses.asdict(s) for s in found],
                           generated=f"{generated.astimezone(BEIJING):%Y-%m-%d %H:%M} (Beijing)")


def print_pdf(chromium: str, html: Path, pdf: Path) -> None:
    """Chromium prints the page, headless, in a profile of its own."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                        f"--print-to-pdf={pdf}", html.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)


@contextmanager
def database_up(settings: Settings) -> Iterator[None]:
    """The embedded PostgreSQL, started for the report when it is not running (after `make
    demo`, which stops it) and stopped again after; an external or running one is left be."""
    postgres = LocalStack(settings).postgres
    if settings.database.external or postgres.pid() is not None:
        yield
        return
    print("starting the embedded PostgreSQL for the report…", file=sys.stderr)
    postgres.start()
    try:
        yield
    finally:
        postgres.stop()


def cmd_report(settings: Settings, args: argparse.Namespace) -> None:
    """Write the report's files and say where they went (on stderr: stdout stays empty)."""
    today = datetime.now(BEIJING).date()
    period = Period.of(args.period, args.date or today)
    generated = datetime.now(UTC)
    with database_up(settings):
        found = sections(settings, period)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(
        json.dumps(as_json(period, found, generated), ensure_ascii=False, indent=2, default=str)
        + "\n", encoding="utf-8")
    html = args.out / "report.html"
    html.write_text(as_html(period, found, generated), encoding="utf-8")
    written = [str(args.out / "report.json"), str(html)]
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("report.pdf not written: no chromium on this machine (`make setup` installs "
              "Debian's)", file=sys.stderr)
    else:
        print_pdf(chromium, html, args.out / "report.pdf")
        written.append(str(args.out / "report.pdf"))
    print(f"{period.label()}: wrote {', '.join(written)}", file=sys.stderr)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`fjsense report --period day|week|month [--date YYYY-MM-DD] --out DIR`."""
    p = sub.add_parser("report", help="the province's report over a Beijing calendar period: "
                       "report.json, report.html and report.pdf")
    p.set_defaults(func=cmd_report)
    p.add_argument("--period", choices=("day", "week", "month"), required=True)
    p.add_argument("--date", type=date.fromisoformat, metavar="YYYY-MM-DD",
                   help="a day of the period (default: today in Beijing)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
