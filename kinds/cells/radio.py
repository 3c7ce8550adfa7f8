"""A 5G downlink radio model for simulated measurement reports: each phone's SS-RSRP from every
cell near it (3GPP TR 38.901 UMa NLOS path loss, a 65° sector antenna, log-normal shadowing),
its serving cell the strongest, and its SS-SINR against the other cells weighted by their load
(an idle cell's reference signals still interfere, its data does not).

Vectorised with numpy: one call judges every phone of a district against every cell there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kinds.cells.mr import RSRP_RANGE, SINR_RANGE

M_PER_DEG_LAT = 111_320.0
BAND_GHZ = {"n78": 3.5, "n41": 2.6, "n28": 0.7, "n1": 2.1, "n79": 4.9}
NOISE_DBM_PER_RE = -174 + 10 * math.log10(30e3) + 7.0  # 30 kHz subcarrier, 7 dB noise figure
SHADOWING_DB = 6.0  # TR 38.901 UMa NLOS: σ = 6 dB
UE_HEIGHT_M = 1.5
REF_SIGNAL_SHARE = 0.2  # an idle cell still radiates its SSB/reference signals


@dataclass(frozen=True)
class Cells:
    """The cells of an area as arrays: position (m east, north of a reference), antenna."""

    ids: list[str]
    east: np.ndarray
    north: np.ndarray
    height: np.ndarray
    azimuth_deg: np.ndarray
    ghz: np.ndarray
    eirp_dbm: np.ndarray


def to_metres(lat: np.ndarray, lon: np.ndarray, ref: tuple[float, float]
              ) -> tuple[np.ndarray, np.ndarray]:
    """(east, north) in metres of points from ``ref`` (lat, lon): local flat earth."""
    north = (np.asarray(lat) - ref[0]) * M_PER_DEG_LAT
    east = (np.asarray(lon) - ref[1]) * M_PER_DEG_LAT * math.cos(math.radians(ref[0]))
    return east, north


def to_degrees(east: np.ndarray, north: np.ndarray, ref: tuple[float, float]
               ) -> tuple[np.ndarray, np.ndarray]:
    lat = ref[0] + north / M_PER_DEG_LAT
    lon = ref[1] + east / (M_PER_DEG_LAT * math.cos(math.radians(ref[0])))
    return lat, lon


def rsrp_dbm(cells: Cells, east: np.ndarray, north: np.ndarray, rnd: np.random.Generator
             ) -> np.ndarray:
    """RSRP (dBm), phones × cells."""
    dx = east[:, None] - cells.east[None, :]
    dy = north[:, None] - cells.north[None, :]
    d2 = np.maximum(np.hypot(dx, dy), 10.0)
    d3 = np.hypot(d2, cells.height[None, :] - UE_HEIGHT_M)
    path_loss = 13.54 + 39.08 * np.log10(d3) + 20 * np.log10(cells.ghz)[None, :] \
        - 0.6 * (UE_HEIGHT_M - 1.5)
    bearing = np.degrees(np.arctan2(dx, dy))  # from the cell to the phone, from north
    off = (bearing - cells.azimuth_deg[None, :] + 180) % 360 - 180
    antenna = -np.minimum(12 * (off / 65) ** 2, 30)
    shadow = rnd.normal(0, SHADOWING_DB, d3.shape)
    return cells.eirp_dbm[None, :] + antenna - path_loss + shadow


def serve(rsrp: np.ndarray, load: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(serving cell index, its RSRP dBm, SINR dB) per phone; ``load`` per cell, 0-1."""
    best = np.argmax(rsrp, axis=1)
    rows = np.arange(len(best))
    signal = rsrp[rows, best]
    linear = 10 ** (rsrp / 10)
    weight = REF_SIGNAL_SHARE + (1 - REF_SIGNAL_SHARE) * load[None, :]
    interference = (linear * weight).sum(axis=1) - linear[rows, best] * weight[0, best]
    sinr = signal - 10 * np.log10(interference + 10 ** (NOISE_DBM_PER_RE / 10))
    return best, signal, sinr


def rsrp_index(dbm: np.ndarray) -> np.ndarray:
    """TS 38.133 SS-RSRP index: n for [n − 157, n − 156) dBm, kept in the reported range."""
    return np.clip(np.floor(dbm).astype(int) + 157, *RSRP_RANGE)


def sinr_index(db: np.ndarray) -> np.ndarray:
    """TS 38.133 SS-SINR index: n for [n/2 − 23.5, n/2 − 23) dB, kept in the reported range."""
    return np.clip(np.floor(2 * db + 47).astype(int), *SINR_RANGE)
