"""`fjsense export` on PostgreSQL as the reader role: CSV and Parquet equal independent SQL,
times in UTC ISO 8601, awkward text quoted, and clear errors for what cannot be exported."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from app.processes import settings_env
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from sinks.migrate import bootstrap

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 10, 18, 0, 0, 250000, tzinfo=UTC)
REASON = 'schema: kw: "not a number", and a\nsecond line'


def fjsense(settings: Settings, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=settings_env(settings),
                          capture_output=True, timeout=60, check=False)


@pytest.fixture
def loaded(settings: Settings) -> Iterator[psycopg.Connection]:
    bootstrap(settings)
    with psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True) as conn:
        load(conn)
        yield conn


def load(conn: psycopg.Connection) -> None:
    for n in range(6):
        for device, circuit in (("changle-dc1-m01", "facility"), ("changle-dc1-m02", "it")):
            conn.execute(
                "INSERT INTO power_readings (site, device, seq, ts, circuit, kw, kwh, ingest_ts)"
                " VALUES ('changle-dc1', %s, %s, %s, %s, %s, %s, %s)",
                [device, n, START + timedelta(minutes=n), circuit,
                 800.5 + n, 1e6 + n, START + timedelta(minutes=n, seconds=2)])
    conn.execute("INSERT INTO dead_letters (received_at, stage, reason, source, payload, "
                 "payload_sha) VALUES (%s, 'ingest', %s, 'fj/power/x/y', %s, 'sha')",
                 [START, REASON, b'\x00\xff{"kw": "x"}'])


def test_csv_equals_the_rows_with_iso_utc_times_and_the_filters(settings: Settings, loaded,
                                                                 tmp_path: Path):
    out = tmp_path / "an export with spaces" / "changle m01.csv"
    out.parent.mkdir()
    done = fjsense(settings, "export", "power_readings", "--since", "2026-01-10T18:01:00Z",
                   "--until", "2026-01-10T18:04:30+00:00", "--where", "device=changle-dc1-m01",
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode().strip() == f"exported 4 rows of power_readings to {out}"
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    expected = loaded.execute(
        "SELECT seq, kw FROM power_readings WHERE device = 'changle-dc1-m01' AND ts BETWEEN "
        "'2026-01-10 18:01Z' AND '2026-01-10 18:04:30Z' ORDER BY ts").fetchall()
    assert [(int(r["seq"]), float(r["kw"])) for r in rows] == expected
    assert [r["ts"] for r in rows] == [f"2026-01-10T18:0{n}:00.250000Z" for n in (1, 2, 3, 4)]
    assert rows[0]["ingest_ts"] == "2026-01-10T18:01:02.250000Z"
    assert list(rows[0]) == ["site", "device", "seq", "ts", "circuit", "kw", "kwh",
                             "ingest_ts", "stored_at"]


def test_piped_csv_is_plain_and_quotes_awkward_text(settings: Settings, loaded):
    done = fjsense(settings, "export", "dead_letters")
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode().strip() == "exported 1 rows of dead_letters"  # newline inside
    [row] = list(csv.DictReader(io.StringIO(done.stdout.decode())))
    assert row["reason"] == REASON and row["received_at"] == "2026-01-10T18:00:00.250000Z"
    assert bytes.fromhex(row["payload"][2:]) == b'\x00\xff{"kw": "x"}'  # bytea as \x hex


def test_parquet_keeps_types_times_and_bytes(settings: Settings, loaded, tmp_path: Path):
    import pyarrow.parquet as pq

    out = tmp_path / "readings.parquet"
    done = fjsense(settings, "export", "power_readings", "--format", "parquet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out)
    assert table.num_rows == 12
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("kw").type) == "double"
    got = sorted(zip(table["device"].to_pylist(), table["ts"].to_pylist(),
                     table["kw"].to_pylist(), strict=True))
    assert got == sorted(loaded.execute("SELECT device, ts, kw FROM power_readings").fetchall())
    letters = tmp_path / "letters.parquet"
    assert fjsense(settings, "export", "dead_letters", "--format", "parquet", "--out",
                   str(letters)).returncode == 0
    assert pq.read_table(letters)["payload"].to_pylist() == [b'\x00\xff{"kw": "x"}']


@pytest.mark.parametrize(("args", "says"), [
    (("no_such_table",), "no table or view 'no_such_table' the reader role may read; it may "
                         "read: aggregate_refresh, alert_acks"),
    (("pg_authid",), "no table or view 'pg_authid'"),
    (("power_readings", "--where", "watts=1"), "power_readings has no column 'watts'; "
                                               "columns: site, device, seq, ts"),
    (("power_readings", "--where", "nothing"), "not COLUMN=VALUE: 'nothing'"),
])
def test_what_cannot_be_exported_is_refused_with_why(settings: Settings, loaded, args, says):
    done = fjsense(settings, "export", *args)
    assert done.returncode != 0 and done.stdout == b""
    assert says in done.stderr.decode(), done.stderr
