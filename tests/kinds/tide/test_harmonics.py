"""Tide processing without servers: harmonic prediction against UTide itself on the real
Honolulu record, level QC on it, high waters and early warnings on a simulated Xiamen tide."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import utide
from pydantic import ValidationError

from fjsense.catalog import load_catalog
from fjsense.settings import Settings
from kinds.tide.harmonics import TideModel
from kinds.tide.kind import TideReading, WarningLevels
from kinds.tide.processor import TideProcessor, early_warning, rate
from kinds.tide.simulator import GAUGES, TideScenario, astronomical
from simulators.recorded import Row
from simulators.recordings import read_recording
from streams.contract import Batch
from tests.paths import SHARED

HNL = SHARED / "uhslc" / "HNL2010.asc"
HONOLULU_LAT = 21.3067


class NoModels:
    def current(self, station: str) -> None:
        return None


class Fixed:
    def __init__(self, model: TideModel) -> None:
        self.model = model

    def current(self, station: str) -> tuple[int, TideModel]:
        return 7, self.model


@pytest.fixture(scope="module")
def hnl() -> tuple[np.ndarray, np.ndarray]:
    rows = read_recording(HNL).rows
    return (np.array([r.ts.timestamp() for r in rows]),
            np.array([r.values["level_m"] for r in rows]))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x ** 2)))


def test_prediction_of_the_second_half_matches_utide_itself(hnl) -> None:
    t, h = hnl
    n = len(t) // 2
    ours = h[n:] - TideModel.fit(t[:n], h[:n], HONOLULU_LAT).predict(t[n:])
    stamps = (t * 1e6).astype("datetime64[us]")
    coef = utide.solve(stamps[:n], h[:n], lat=HONOLULU_LAT, verbose=False)
    theirs = h[n:] - utide.reconstruct(stamps[n:], coef, verbose=False).h
    print(f"\nHNL 2010, fit Jan-Jun, predict Jul-Dec: residual RMS ours {rms(ours):.4f} m, "
          f"utide {rms(theirs):.4f} m; about the residual's mean (the mean sea level rose "
          f"{ours.mean():.3f} m): ours {ours.std():.4f} m, utide {theirs.std():.4f} m")
    assert rms(ours) <= 1.1 * rms(theirs) and ours.std() <= 1.1 * theirs.std()
    assert 0.045 < ours.std() < 0.06  # about 5 cm for this station


def test_a_stored_model_predicts_what_it_predicted_before_storing(hnl) -> None:
    t, h = hnl
    model = TideModel.fit(t[:2000], h[:2000], HONOLULU_LAT)
    again = TideModel.from_json(model.to_json())
    assert np.array_equal(model.predict(t[2000:2100]), again.predict(t[2000:2100]))
    names = [c["name"] for c in again.constituents()]
    assert names[:3] == ["M2", "K1", "O1"] and "M4" in names  # shallow water, by Rayleigh


def test_the_trend_is_held_beyond_the_span_it_was_fitted_on(hnl) -> None:
    t, h = hnl
    model = TideModel.fit(t[:720], h[:720], HONOLULU_LAT)  # 30 days
    span = t[719] - t[0]
    far = np.array([t[719] + 3 * span, t[719] + 5 * span])
    no_trend = TideModel.fit(t[:720], h[:720], HONOLULU_LAT, trend=False)
    stamps = (far * 1e6).astype("datetime64[us]")
    carried = utide.reconstruct(stamps, model.coef, verbose=False).h - no_trend.predict(far)
    held = model.predict(far) - no_trend.predict(far)
    # UTide carries the month's slope on (2 spans apart: centimetres); here it is held
    assert abs(carried[1] - carried[0]) > 0.02
    assert abs(held[1] - held[0]) < 0.005
    inside = t[100:110]
    assert np.allclose(model.predict(inside), utide.reconstruct(
        (inside * 1e6).astype("datetime64[us]"), model.coef, verbose=False).h)


def judged(rows: list[Row], station: str = "xiamen-tide") -> list:
    processor = TideProcessor(Settings(), load_catalog(), NoModels())
    state = processor.load_state({})
    out = []
    for seq, row in enumerate(rows):
        reading = TideReading(device="xiamen-tg1", seq=seq, ts=row.ts,
                              level_m=row.values["level_m"])
        out += processor.step(state, Batch(station, [reading], row.ts.timestamp() + 60))
    return out


def test_level_qc_flags_only_the_2010_chile_tsunami_in_a_year_of_honolulu() -> None:
    flagged = [o.value for o in judged(read_recording(HNL).rows)
               if hasattr(o.value, "qc") and o.value.qc != 1]
    print(f"\nflagged: {[(f'{o.ts:%m-%d %H:%M}', o.tests) for o in flagged]}")
    # the tsunami of 27 February 2010 reached Honolulu that evening (UTC): no tide
    assert flagged and all(datetime(2010, 2, 27, 18, tzinfo=UTC) <= o.ts
                           <= datetime(2010, 2, 28, 12, tzinfo=UTC) for o in flagged)


def test_high_waters_are_found_where_the_tide_peaks() -> None:
    site = load_catalog().site("xiamen-tide")
    start = datetime(2026, 10, 1, tzinfo=UTC)
    scenario = TideScenario([site], start, timedelta(days=3), noise_m=0.01, seed=4)
    rows = [Row(k, start + k * scenario.interval,
                {"level_m": scenario.level(site, (start + k * scenario.interval).timestamp())})
            for k in range(int(timedelta(days=3) / scenario.interval))]
    found = [o.value for o in judged(rows) if o.topic == "fj.derived.tide_high_water"]
    gauge = GAUGES["xiamen-tide"]
    minutes = [start.timestamp() + m * 60 for m in range(3 * 1440)]
    peaks = [m for i, m in enumerate(minutes[1:-1], 1)
             if astronomical(gauge, minutes[i - 1]) < astronomical(gauge, m)
             >= astronomical(gauge, minutes[i + 1])]
    # the first peak comes before the search knows whether the tide rises; the last may not
    # have fallen far enough yet
    assert len(found) >= len(peaks) - 2
    for hw in found:
        nearest = min(peaks, key=lambda p: abs(p - hw.ts.timestamp()))
        assert abs(nearest - hw.ts.timestamp()) <= 600
        assert hw.level_m == pytest.approx(astronomical(gauge, nearest), abs=0.02)
        assert hw.warning == "none"


def test_surge_is_the_level_less_the_current_constituents_prediction(hnl) -> None:
    t, h = hnl
    model = TideModel.fit(t[:1000], h[:1000], HONOLULU_LAT)
    processor = TideProcessor(Settings(), load_catalog(), Fixed(model))
    at = datetime.fromtimestamp(t[1200], UTC)
    out = processor.step(processor.load_state({}), Batch("xiamen-tide", [TideReading(
        device="xiamen-tg1", seq=1, ts=at, level_m=float(h[1200]))], t[1200]))
    obs = out[0].value
    assert obs.fit_version == 7
    assert obs.predicted_m == pytest.approx(float(model.predict([t[1200]])[0]), abs=1e-4)
    assert obs.surge_m == pytest.approx(h[1200] - obs.predicted_m, abs=1e-4)


def test_early_warning_names_the_highest_level_the_rate_reaches_within_the_hour() -> None:
    levels = WarningLevels(blue=7.4, yellow=7.8, orange=8.2, red=8.6)
    per_h = 1 / 3600
    assert early_warning(levels, 7.0, 0.5 * per_h, 3600) == 1  # 7.5 in an hour: blue
    assert early_warning(levels, 7.5, 0.8 * per_h, 3600) == 3  # past yellow to orange
    assert early_warning(levels, 7.0, 0.3 * per_h, 3600) == 0  # 7.3: none
    assert early_warning(levels, 7.9, -0.5 * per_h, 3600) == 0  # falling
    assert early_warning(levels, 8.7, 1.0 * per_h, 3600) == 0  # above red already
    assert levels.reached(7.8) == 2 and levels.reached(7.39) == 0
    assert rate([[0, 1.0], [600, 1.1], [1200, 1.2]]) == pytest.approx(0.1 / 600)
    assert rate([[0, 1.0], [600, 1.1]]) is None


def test_warning_levels_must_rise() -> None:
    with pytest.raises(ValidationError, match="blue < yellow < orange < red"):
        WarningLevels(blue=7.4, yellow=7.3, orange=8.2, red=8.6)
