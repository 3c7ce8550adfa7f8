"""Ecology from quality-controlled buoy values: oxygen saturation (TEOS-10), the seawater
quality class of GB 3097-1997, and an algal-bloom risk score."""

from __future__ import annotations

import math
from collections.abc import Mapping

import gsw

from kinds.buoy.kind import Gb3097

O2_MG_PER_UMOL = 31.998e-3
LABELS = ("I", "II", "III", "IV", "worse than IV")
CLASSED = ("do_mg_l", "ph", "din_mg_l", "po4_mg_l", "cod_mg_l")  # GB 3097's order


def do_saturation_pct(do_mg_l: float, temp_c: float, salinity_psu: float) -> float:
    """Measured DO as a percentage of its solubility at the water's temperature and salinity
    (Garcia & Gordon 1992 via ``gsw.O2sol_SP_pt``, at the surface)."""
    umol_kg = float(gsw.O2sol_SP_pt(salinity_psu, temp_c))
    sa = float(gsw.SA_from_SP(salinity_psu, 0.0, 119.5, 25.5))
    rho = float(gsw.rho(sa, float(gsw.CT_from_t(sa, temp_c, 0.0)), 0.0))  # kg/m³
    solubility_mg_l = umol_kg * rho / 1000 * O2_MG_PER_UMOL
    return 100.0 * do_mg_l / solubility_mg_l


def salinity_from_conductivity(conductivity_ms_cm: float, temp_c: float) -> float:
    """Practical salinity (PSS-78 via ``gsw.SP_from_C``) at the surface."""
    return float(gsw.SP_from_C(conductivity_ms_cm, temp_c, 0.0))


def parameter_class(name: str, value: float, gb: Gb3097) -> int:
    """The best class (1-4) whose limit ``value`` meets; 5 when it meets none."""
    if name == "do_mg_l":
        return next((i + 1 for i, floor in enumerate(gb.do_above) if value > floor), 5)
    if name == "ph":
        return next((i + 1 for i, (lo, hi) in enumerate(gb.ph_ranges) if lo <= value <= hi), 5)
    limits = {"din_mg_l": gb.din_max, "po4_mg_l": gb.po4_max, "cod_mg_l": gb.cod_max}[name]
    return next((i + 1 for i, top in enumerate(limits) if value <= top), 5)


def quality_class(values: Mapping[str, float], gb: Gb3097) -> tuple[int, str] | None:
    """The worst parameter class and the parameters that set it (comma-separated, GB 3097's
    order); None when no classed parameter is given."""
    classes = {n: parameter_class(n, values[n], gb) for n in CLASSED if values.get(n) is not None}
    if not classes:
        return None
    worst = max(classes.values())
    return worst, ",".join(n for n, c in classes.items() if c == worst)


def bloom_risk(chl: float, chl_baseline: float, do_sat: float | None, ph: float | None,
               ph_baseline: float | None, ratio: float, do_sat_bloom: float,
               ph_rise: float) -> float:
    """0-1: chlorophyll-a well above its baseline *and* a sign of photosynthesis (oxygen
    supersaturation or a pH rise); the geometric mean, so neither alone makes a risk."""
    chl_part = _unit((chl / chl_baseline - 1) / (ratio - 1)) if chl_baseline > 0 else 0.0
    signs = [0.0]
    if do_sat is not None:
        signs.append(_unit((do_sat - 100) / (do_sat_bloom - 100)))
    if ph is not None and ph_baseline is not None:
        signs.append(_unit((ph - ph_baseline) / ph_rise))
    return math.sqrt(chl_part * max(signs))


def _unit(x: float) -> float:
    return min(max(x, 0.0), 1.0)
