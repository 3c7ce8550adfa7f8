"""`fjsense tides fit|predict STATION --from … --to …`: harmonic analysis of a tide station's
stored, QC-passed levels into a new version of its constituents, and the astronomical tide
those predict (for planners, and for checking).

Both spans take ISO dates or times (UTC unless an offset is given), ends included; a date
alone as ``--to`` means the end of that day. Fits are written as the writer role.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from rich.table import Table

from fjsense import output
from fjsense.arguments import instant
from fjsense.catalog import catalog_of
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from kinds.tide.harmonics import TideModel
from kinds.tide.kind import (
    CONSTITUENTS,
    FITS,
    KIND,
    OBSERVATIONS,
    PREDICTIONS,
    TideSettings,
)
from kinds.tide.simulator import TideSimulator

PASS = 1
console = output.console(stderr=True)


@dataclass(frozen=True)
class Fitted:
    station: str
    version: int
    samples: int
    model: TideModel
    residual_rms_m: float


def _station(settings: Settings, station: str) -> tuple[float, str]:
    """(latitude, datum) of a tide station of the catalog; ValueError if none."""
    try:
        site = catalog_of(settings).site(station)
    except KeyError:
        raise ValueError(f"no station {station!r} in the catalog") from None
    if site.kind != KIND.name:
        raise ValueError(f"{station} is a {site.kind} station, not a tide station")
    return site.lat, site.spec.datum


def fit(settings: Settings, station: str, start: datetime, end: datetime,
        now: datetime | None = None) -> Fitted:
    """Fit the station's QC-passed levels stamped in [start, end] and store the result as its
    next version, with its constituents and predictions around now."""
    with psycopg.connect(Credentials(settings).dsn("writer")) as conn:
        rows = conn.execute(
            f"SELECT extract(epoch FROM ts), level_m FROM {OBSERVATIONS.table.name} "  # type: ignore[union-attr]
            "WHERE station = %s AND ts BETWEEN %s AND %s AND qc = %s ORDER BY ts",
            (station, start, end, PASS)).fetchall()
    times = np.array([float(r[0]) for r in rows])
    levels = np.array([r[1] for r in rows])
    return fit_levels(settings, station, times, levels, f"in {start:%Y-%m-%d %H:%M} – "
                      f"{end:%Y-%m-%d %H:%M}", now or datetime.now(UTC))


def fit_levels(settings: Settings, station: str, times: np.ndarray, levels: np.ndarray,
               where: str, now: datetime) -> Fitted:
    """Harmonic analysis of the levels at ``times`` (epoch seconds) into the station's next
    version; ValueError if they span under ``tide.fit_min_days``."""
    config: TideSettings = KIND.section(settings)
    lat, _ = _station(settings, station)
    days = np.ptp(times) / 86400 if len(times) else 0.0
    if days < config.fit_min_days:
        raise ValueError(f"{station}: {len(times)} QC-passed values over {days:.1f} days "
                         f"{where}; a fit needs {config.fit_min_days:g} days "
                         "(tide.fit_min_days)")
    model = TideModel.fit(times, levels, lat, config.rayleigh_min, config.fit_trend)
    rms = float(np.sqrt(np.mean((levels - model.predict(times)) ** 2)))
    end = datetime.fromtimestamp(float(times.max()), UTC)
    with psycopg.connect(Credentials(settings).dsn("writer")) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"tide-fit {station}",))
        version = int(conn.execute(
            f"SELECT coalesce(max(version), 0) + 1 FROM {FITS.name} WHERE station = %s",
            (station,)).fetchone()[0])  # type: ignore[index]
        conn.execute(
            f"INSERT INTO {FITS.name} (station, version, fitted_at, span_from, span_to, samples, "
            "constituents, mean_m, slope_m_per_day, residual_rms_m, model) "
            "VALUES (%s, %s, now(), to_timestamp(%s), to_timestamp(%s), %s, %s, %s, %s, %s, %s)",
            (station, version, model.span[0], model.span[1], len(times),
             len(model.constituents()), model.mean, model.slope_per_day, rms, model.to_json()))
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {CONSTITUENTS.name} (station, version, name, frequency_cph, "
                "amplitude_m, amplitude_ci_m, phase_deg, phase_ci_deg, snr, pe) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(station, version, c["name"], c["frequency_cph"], c["amplitude_m"],
                  c["amplitude_ci_m"], c["phase_deg"], c["phase_ci_deg"], c["snr"], c["pe"])
                 for c in model.constituents()])
            ahead = _around(now, end, config)
            cur.executemany(
                f"INSERT INTO {PREDICTIONS.name} (station, ts, predicted_m, version) VALUES "
                "(%s, %s, %s, %s) ON CONFLICT (station, ts) DO UPDATE SET "
                "predicted_m = excluded.predicted_m, version = excluded.version",
                [(station, t, round(float(p), 4), version) for t, p in
                 zip(ahead, model.predict([t.timestamp() for t in ahead]), strict=True)])
    return Fitted(station, version, len(times), model, rms)


def fit_demo_history(settings: Settings, now: datetime, span: timedelta) -> str:
    """The demo's constituents: every station fitted on the month its simulated gauge records
    before the demo's span (the month is not replayed through the pipeline, so a demo run
    again over the same days fits its own tide, not rows an earlier run left)."""
    history = TideSimulator().demo_history(catalog_of(settings), now, span)
    fitted = [fit_levels(settings, station, times, levels, "of simulated history", now)
              for station, (times, levels) in history.items()]
    return (f"tide constituents fitted on {TideSimulator.history.days} simulated days: "
            + ", ".join(f"{f.station} v{f.version} ({f.residual_rms_m * 100:.1f} cm)"
                        for f in fitted))


def _around(now: datetime, end: datetime, config: TideSettings) -> list[datetime]:
    """Times of the stored predictions: from a day before the later of now and the fit's end,
    ``predict_ahead_days`` on, every ``predict_step_minutes``."""
    step = timedelta(minutes=config.predict_step_minutes)
    first = max(now, end) - timedelta(days=1)
    first = datetime.fromtimestamp(first.timestamp() // step.total_seconds()
                                   * step.total_seconds(), UTC)
    count = int(timedelta(days=config.predict_ahead_days + 1) / step)
    return [first + k * step for k in range(count + 1)]


def current_model(settings: Settings, station: str) -> tuple[int, TideModel]:
    """The station's newest (version, model); ValueError while it has none."""
    _station(settings, station)
    with psycopg.connect(Credentials(settings).dsn("reader")) as conn:
        row = conn.execute(f"SELECT version, model FROM {FITS.name} WHERE station = %s "
                           "ORDER BY version DESC LIMIT 1", (station,)).fetchone()
    if row is None:
        raise ValueError(f"{station} has no constituents yet: `fjsense tides fit {station} "
                         "--from … --to …` first")
    return int(row[0]), TideModel.from_json(row[1])


def predict(settings: Settings, station: str, start: datetime, end: datetime,
            step: timedelta) -> tuple[int, list[tuple[datetime, float]]]:
    """(version, [(time, astronomical tide)]) from ``start`` to ``end`` every ``step``."""
    if end < start:
        raise ValueError("--to is before --from")
    version, model = current_model(settings, station)
    count = int((end - start) / step)
    times = [start + k * step for k in range(count + 1)]
    return version, [(t, round(float(p), 4)) for t, p in
                     zip(times, model.predict([t.timestamp() for t in times]), strict=True)]


def apply(settings: Settings, station: str, start: datetime, end: datetime) -> tuple[int, int, int]:
    """The astronomical tide and surge of the station's stored observations in [start, end]
    from its newest constituents: (version, observations in the span, rows changed). Rows that
    already hold these values are left alone, so a second run changes none."""
    if end < start:
        raise ValueError("--to is before --from")
    version, model = current_model(settings, station)
    table = OBSERVATIONS.table.name  # type: ignore[union-attr]
    with psycopg.connect(Credentials(settings).dsn("writer")) as conn:
        rows = conn.execute(f"SELECT ts, level_m FROM {table} WHERE station = %s AND ts "
                            "BETWEEN %s AND %s ORDER BY ts", (station, start, end)).fetchall()
        if not rows:
            return version, 0, 0
        tide = model.predict([ts.timestamp() for ts, _ in rows])
        values = [(ts, round(float(p), 4), round(level - round(float(p), 4), 4))
                  for (ts, level), p in zip(rows, tide, strict=True)]
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE tide_apply (ts timestamptz PRIMARY KEY, "
                        "predicted_m double precision, surge_m double precision) ON COMMIT DROP")
            with cur.copy("COPY tide_apply (ts, predicted_m, surge_m) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
            cur.execute(
                f"UPDATE {table} o SET predicted_m = a.predicted_m, surge_m = a.surge_m, "
                "fit_version = %s FROM tide_apply a WHERE o.station = %s AND o.ts = a.ts AND "
                "(o.predicted_m IS DISTINCT FROM a.predicted_m OR o.surge_m IS DISTINCT FROM "
                "a.surge_m OR o.fit_version IS DISTINCT FROM %s)", (version, station, version))
            changed = cur.rowcount
    return version, len(rows), changed


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cmd_fit(settings: Settings, args: argparse.Namespace) -> None:
    found = fit(settings, args.station, args.start, args.end)
    table = Table("constituent", "freq (cph)", "amplitude m", "± m", "phase °", "± °", "SNR",
                  title=f"{found.station} version {found.version}: {found.samples} values, "
                        f"residual RMS {found.residual_rms_m:.4f} m")
    for c in found.model.constituents():
        table.add_row(c["name"], f"{c['frequency_cph']:.7f}", f"{c['amplitude_m']:.4f}",
                      f"{c['amplitude_ci_m']:.4f}", f"{c['phase_deg']:.1f}",
                      f"{c['phase_ci_deg']:.1f}", f"{c['snr']:.1f}")
    output.console().print(table)
    console.print(f"levels stored before this fit keep no astronomical tide or surge of it; "
                  f"to compute them: fjsense tides apply {found.station} --from "
                  f"{_iso(args.start)} --to {_iso(args.end)}")


def cmd_apply(settings: Settings, args: argparse.Namespace) -> None:
    version, span, changed = apply(settings, args.station, args.start, args.end)
    print(f"{args.station}: {changed} of {span} stored observations in {_iso(args.start)} – "
          f"{_iso(args.end)} given the astronomical tide and surge of constituents version "
          f"{version}")


def cmd_predict(settings: Settings, args: argparse.Namespace) -> None:
    version, rows = predict(settings, args.station, args.start, args.end,
                            timedelta(minutes=args.step))
    _, datum = _station(settings, args.station)
    console.print(f"{args.station}: astronomical tide (m above {datum}), constituents "
                  f"version {version}")
    if args.json:
        json.dump([{"ts": _iso(t), "predicted_m": p} for t, p in rows], sys.stdout)
        sys.stdout.write("\n")
        return
    for t, p in rows:
        print(f"{_iso(t)}\t{p:.4f}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    tides = sub.add_parser("tides", help="tide stations: harmonic fit and prediction")
    actions = tides.add_subparsers(dest="action", required=True)
    for name, func, what in (
            ("fit", cmd_fit, ("fit the station's QC-passed stored levels into a new version "
             "of its constituents")),
            ("predict", cmd_predict, "print the astronomical tide from its newest constituents"),
            ("apply", cmd_apply, ("give the stored observations in the span the astronomical "
             "tide and surge of the newest constituents (idempotent; says how many changed)"))):
        p = actions.add_parser(name, help=what)
        p.set_defaults(func=func)
        p.add_argument("station")
        p.add_argument("--from", dest="start", type=instant, required=True, metavar="ISO")
        p.add_argument("--to", dest="end", type=lambda t: instant(t, end=True), required=True,
                       metavar="ISO")
    predict_p = actions.choices["predict"]
    predict_p.add_argument("--step", type=float, default=60.0, help="minutes (default 60)")
    predict_p.add_argument("--json", action="store_true",
                           help='a JSON array of {"ts", "predicted_m"}')
