"""The alert state machine: pending → firing → resolved, hysteresis, cancel, repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fjsense.settings import Settings
from streams.alerts import AlertProcessor, load_rules

MIN = 60.0


def feed(values: list[float | None], settings: Settings | None = None) -> list[tuple[str, str]]:
    processor = AlertProcessor(load_rules(settings or Settings()))
    state: dict = {}
    out = []
    for n, value in enumerate(values):
        record = {"site": "s", "window_end": f"2026-01-01T00:{n:02d}:00+00:00",
                  "pue_rolling": value}
        out += [(o.value["state"], o.value["at"][14:16])
                for o in processor.step("s", state, json.dumps(record).encode())]
    return out


def test_fires_after_five_minutes_above_and_resolves_below_hysteresis():
    values = [1.30, 1.36, 1.37, 1.38, 1.36, 1.40, 1.36, 1.33, 1.31, 1.29, 1.40]
    assert feed(values) == [("pending", "01"), ("firing", "06"), ("resolved", "09"),
                            ("pending", "10")]


def test_falling_back_before_firing_cancels_and_missing_values_change_nothing():
    assert feed([1.36, None, 1.36, 1.35, None, 1.20]) == [("pending", "00"), ("cancelled", "03")]


def test_a_repeated_window_is_not_evaluated_twice():
    processor = AlertProcessor(load_rules(Settings()))
    state: dict = {}
    record = json.dumps({"site": "s", "window_end": "2026-01-01T00:00:00+00:00",
                         "pue_rolling": 1.5}).encode()
    assert len(processor.step("s", state, record)) == 1
    assert processor.step("s", state, record) == []


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
    with pytest.raises(ValueError, match="resolve_below above the firing threshold"):
        load_rules(Settings(alerts={"rules_file": bad}))
