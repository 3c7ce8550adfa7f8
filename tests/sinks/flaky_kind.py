"""A kind whose second migration step fails midway when the session says so: for proving that
a failed step leaves the previous version and that a re-run completes."""

from __future__ import annotations

from pydantic import Field

from fjsense.sensorkind import Migration, Reading, SensorKind, raw_table


class GaugeReading(Reading):
    level: float = Field(allow_inf_nan=False)


READINGS = raw_table("gauge_readings", GaugeReading)

KIND = SensorKind(
    name="gauge",
    reading=GaugeReading,
    table=READINGS,
    migrations=(
        Migration("0001_tables", tables=(READINGS,)),
        Migration("0002_levels", sql=(
            "CREATE TABLE gauge_levels (name text PRIMARY KEY, level double precision);\n"
            "INSERT INTO gauge_levels VALUES ('blue', 1.0);\n"
            "SELECT 1 / CASE WHEN current_setting('fjsense.fail_migration', true) = 'yes' "
            "THEN 0 ELSE 1 END;\n"
            "INSERT INTO gauge_levels VALUES ('red', 3.0)")),
    ),
)
