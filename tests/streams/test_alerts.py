"""The alert state machine: pending → firing → resolved, hysteresis, cancel, repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fjsense.kinds.power import PUE, PueWindow
from fjsense.settings import Settings
from fjsense.topics import AlertEvent
from streams.alerts import AlertProcessor, load_rules
from streams.contract import Batch

MIN = 60.0


def window(minute: int, value: float | None) -> PueWindow:
    end = datetime(2026, 1, 1, 0, minute, tzinfo=UTC)
    return PueWindow(site="s", window_start=end - timedelta(minutes=1), window_end=end,
                     facility_kwh=None, it_kwh=None, cooling_kwh=None, pue=None,
                     pue_rolling=value, instant_kw_ratio=None, reason=None, rolling_reason=None)


def processor(settings: Settings | None = None) -> AlertProcessor:
    return AlertProcessor(PUE.topic, load_rules(settings or Settings()))


def feed(values: list[float | None], settings: Settings | None = None) -> list[tuple[str, str]]:
    alerts, state = processor(settings), {}
    out: list[tuple[str, str]] = []
    for n, value in enumerate(values):
        for o in alerts.step(state, Batch("s", [window(n, value)], 0.0)):
            assert isinstance(o.value, AlertEvent)
            out.append((o.value.state, f"{o.value.at:%M}"))
    return out


def test_fires_after_five_minutes_above_and_resolves_below_hysteresis():
    values = [1.30, 1.36, 1.37, 1.38, 1.36, 1.40, 1.36, 1.33, 1.31, 1.29, 1.40]
    assert feed(values) == [("pending", "01"), ("firing", "06"), ("resolved", "09"),
                            ("pending", "10")]


def test_falling_back_before_firing_cancels_and_missing_values_change_nothing():
    assert feed([1.36, None, 1.36, 1.35, None, 1.20]) == [("pending", "00"), ("cancelled", "03")]


def test_a_repeated_window_is_not_evaluated_twice():
    alerts, state = processor(), {}
    batch = Batch("s", [window(0, 1.5)], 0.0)
    assert len(alerts.step(state, batch)) == 1
    assert alerts.step(state, batch) == []


def test_thresholds_come_from_settings():
    assert feed([1.31, 1.31], Settings(pue={"target": 1.3, "resolve_below": 1.25,
                                            "alert_after_seconds": 60})) == [
        ("pending", "00"), ("firing", "01")]


def test_rule_file_errors_are_clear(tmp_path: Path):
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - {name: x, severity: w, source: s, metric: m, group_by: g, at: t,"
                   " above: ${pue.nope}, for_seconds: 0, resolve_below: 1, summary: s}\n")
    with pytest.raises(ValueError, match=r"unknown setting \$\{pue.nope\}"):
        load_rules(Settings(alerts={"rules_file": bad}))
    bad.write_text(bad.read_text().replace("${pue.nope}", "1.0").replace("resolve_below: 1",
                                                                          "resolve_below: 2"))
    with pytest.raises(ValueError, match="no stream 's'"):
        load_rules(Settings(alerts={"rules_file": bad}))
    bad.write_text(bad.read_text().replace("source: s,", "source: fj.derived.pue,"))
    with pytest.raises(ValueError, match="fj.derived.pue records have no g, m, t"):
        load_rules(Settings(alerts={"rules_file": bad}))
    bad.write_text(bad.read_text().replace("metric: m, group_by: g, at: t",
                                           "metric: pue, group_by: site, at: window_end"))
    with pytest.raises(ValueError, match="resolve_below above the firing threshold"):
        load_rules(Settings(alerts={"rules_file": bad}))
