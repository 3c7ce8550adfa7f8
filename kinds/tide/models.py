"""Each tide station's current constituents, as the stream sees them: the newest version in
``tide_fits``, looked for again every ``tide.model_refresh_seconds``.

The worker reads as the read-only role. While the database cannot be reached, the versions
it had stay current (and a station that had none predicts nothing): the stream goes on.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import psycopg

from fjsense.credentials import Credentials
from fjsense.settings import Settings
from kinds.tide.harmonics import TideModel
from kinds.tide.kind import FITS

log = logging.getLogger(__name__)


class Models(Protocol):
    def current(self, station: str) -> tuple[int, TideModel] | None:
        """The station's current (version, model), or None while it has none."""


class DatabaseModels:
    """The newest fit of every station, refreshed at most every ``refresh`` seconds."""

    def __init__(self, settings: Settings, refresh: float) -> None:
        self.settings = settings
        self.refresh = refresh
        self.models: dict[str, tuple[int, TideModel]] = {}
        self.looked_at = -float("inf")

    def current(self, station: str) -> tuple[int, TideModel] | None:
        if time.monotonic() - self.looked_at >= self.refresh:
            self.looked_at = time.monotonic()
            try:
                self._load()
            except psycopg.Error as exc:
                log.warning("tide constituents not refreshed (keeping versions %s): %s",
                            {s: v for s, (v, _) in self.models.items()}, exc)
        return self.models.get(station)

    def _load(self) -> None:
        table = FITS.name
        with psycopg.connect(Credentials(self.settings).dsn("reader"), autocommit=True) as conn:
            newest = conn.execute(f"SELECT station, max(version) FROM {table} GROUP BY station"
                                  ).fetchall()
            for station, version in newest:
                if self.models.get(station, (None,))[0] == version:
                    continue
                row = conn.execute(f"SELECT model FROM {table} WHERE station = %s AND "
                                   "version = %s", (station, version)).fetchone()
                if row is not None:
                    self.models[station] = (version, TideModel.from_json(row[0]))
                    log.info("tide station %s: constituents version %s", station, version)
