"""Harmonic analysis and prediction of the tide, by UTide (Codiga 2011, in Python ``utide``):
least squares with nodal corrections, constituents chosen by the Rayleigh criterion from
UTide's list (shallow-water ones such as M4 and MS4 among them, which estuaries need).

A fitted model is UTide's own coefficients, kept as JSON, so a prediction from the database
is the very prediction ``utide.reconstruct`` makes, with one bound: the fitted trend is carried
no further from the fitted span than the span is long, and held beyond (a month's slope of the
mean level, carried on for a year, would put a metre into the tide).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import utide
from utide.utilities import Bunch

DAY = 86400.0


def _times(epoch_seconds: Sequence[float] | np.ndarray) -> np.ndarray:
    return (np.asarray(epoch_seconds, dtype=float) * 1e6).astype("datetime64[us]")


def _plain(value: Any) -> Any:
    """JSON-able: arrays to lists, numpy scalars to Python ones, Bunches to dicts."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _bunch(value: Any) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            return np.asarray(value["__array__"], dtype=value["dtype"])
        return Bunch({k: _bunch(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_bunch(v) for v in value]
    return value


@dataclass(frozen=True)
class TideModel:
    """One station's fitted constituents (UTide coefficients)."""

    coef: Bunch
    span: tuple[float, float]  # epoch seconds of the first and last value fitted

    @classmethod
    def fit(cls, epoch_seconds: Sequence[float] | np.ndarray, levels: Sequence[float] | np.ndarray,
            lat: float, rayleigh_min: float = 1.0, trend: bool = True) -> TideModel:
        """Fit the levels (m) at their times; ValueError when they cannot be."""
        times = np.asarray(epoch_seconds, dtype=float)
        if len(times) < 2 or np.ptp(times) <= 0:
            raise ValueError("a fit needs values spread over time")
        coef = utide.solve(_times(times), np.asarray(levels, dtype=float), lat=lat,
                           method="ols", conf_int="linear", nodal=True, trend=trend,
                           constit="auto", Rayleigh_min=rayleigh_min, verbose=False)
        return cls(coef, (float(times.min()), float(times.max())))

    def predict(self, epoch_seconds: Sequence[float] | np.ndarray) -> np.ndarray:
        """The astronomical tide (m, in the fitted levels' datum) at each time."""
        if len(epoch_seconds) == 0:
            return np.empty(0)
        times = np.asarray(epoch_seconds, dtype=float)
        tide = np.asarray(utide.reconstruct(_times(times), self.coef, verbose=False).h)
        start, end = self.span
        length = end - start
        held = np.clip(times, start - length, end + length)
        return tide - self.slope_per_day * (times - held) / DAY

    def to_json(self) -> str:
        return json.dumps({"span": list(self.span), "utide": _plain(dict(self.coef))})

    @classmethod
    def from_json(cls, text: str) -> TideModel:
        data = json.loads(text)
        return cls(_bunch(data["utide"]), tuple(data["span"]))

    @property
    def mean(self) -> float:
        return float(self.coef["mean"])

    @property
    def slope_per_day(self) -> float:
        return float(self.coef.get("slope", 0.0))

    def constituents(self) -> list[dict[str, Any]]:
        """Each constituent: name, frequency (cycles/hour), amplitude and Greenwich phase with
        their 95% intervals, signal-to-noise ratio and share of the energy, largest first."""
        c = self.coef
        return [{"name": str(c["name"][i]), "frequency_cph": float(c["aux"]["frq"][i]),
                 "amplitude_m": float(c["A"][i]), "amplitude_ci_m": float(c["A_ci"][i]),
                 "phase_deg": float(c["g"][i]), "phase_ci_deg": float(c["g_ci"][i]),
                 "snr": float(c["SNR"][i]), "pe": float(c["PE"][i])}
                for i in range(len(c["name"]))]
