"""Every built-in kind's processor keeps a typed state: it survives the changelog's JSON
unchanged, a copy to step on is independent of it, its dump and its load share no list or
mapping with it (the runner steps on a loaded state in place while the table keeps the dump),
and an entry that does not fit the model (another version's field) is refused by name instead
of being half read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pydantic import ValidationError

from fjsense.catalog import load_catalog
from fjsense.settings import Settings
from fjsense.rules import load_rules
from kinds.power.kind import PowerReading, PueWindow
from kinds.power.processor import PueProcessor
from streams.app import kind_processors
from streams.alerts import alert_processors
from streams.contract import Batch, TypedState

BUILT_IN = {"pue", "buoy-qc", "buoy-quality", "tide", "cell-kpi", "coverage-parts",
            "coverage-sums", "pollution"}


def containers(value: Any) -> dict[int, Any]:
    """Every list and mapping reachable from ``value`` (through models and dataclasses), by
    identity."""
    found: dict[int, Any] = {}

    def walk(item: Any) -> None:
        if isinstance(item, list | dict):
            found[id(item)] = item
        children = (item.values() if isinstance(item, dict) else item
                    if isinstance(item, list | tuple) else vars(item).values()
                    if hasattr(item, "__dict__") else ())
        for child in children:
            walk(child)

    walk(value)
    return found


def shares(a: Any, b: Any) -> list[Any]:
    """The lists and mappings ``a`` and ``b`` hold in common."""
    mine = containers(a)
    return [c for i, c in containers(b).items() if i in mine]


def typed(tmp_path: Any) -> dict[str, TypedState]:
    processors = kind_processors(Settings(stack={"home": tmp_path}), load_catalog())
    return {p.name: cast(TypedState, p) for p in processors
            if callable(getattr(p, "load_state", None))}


def test_every_built_in_processor_has_a_typed_state(tmp_path: Any) -> None:
    assert set(typed(tmp_path)) == BUILT_IN


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_a_new_key_state_round_trips_and_an_unknown_field_is_refused(tmp_path: Any,
                                                                    name: str) -> None:
    processor = typed(tmp_path)[name]
    fresh = processor.dump_state(processor.load_state({}))
    assert processor.dump_state(processor.load_state(json.loads(json.dumps(fresh)))) == fresh
    with pytest.raises(ValidationError, match="heared"):
        processor.load_state({**fresh, "heared": 1.0})


def test_a_site_state_after_readings_round_trips_and_its_copy_is_its_own() -> None:
    processor = PueProcessor(Settings(), load_catalog())
    site = next(s for s in load_catalog().sites_of("power") if s.id == "changle-dc1")
    state = processor.load_state({})
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    for k in range(30):
        for d in site.devices:
            processor.step(state, Batch(site.id, [PowerReading(
                device=d.id, seq=k, ts=t0 + timedelta(seconds=10 * k), circuit=d.spec.circuit,
                kw=1000.0, kwh=1e5 + k)], t0.timestamp() + 10 * k))
    kept = json.loads(json.dumps(processor.dump_state(state)))
    assert kept["site"] == "changle-dc1" and kept["heard"] == t0.timestamp() + 290
    again = processor.load_state(kept)
    assert processor.dump_state(again) == kept and again.points == state.points
    copy = processor.copy_state(state)
    copy.points[next(iter(copy.points))].clear()
    copy.latest.clear()
    assert processor.dump_state(state) == kept  # the original is untouched
    # what the runner relies on to step in place: dump and load share nothing with the state
    dumped = processor.dump_state(state)
    assert containers(state) and shares(state, dumped) == []
    assert shares(processor.load_state(dumped), dumped) == []


def test_an_alert_state_after_breaches_shares_nothing_with_its_dump_or_its_load() -> None:
    catalog = load_catalog()
    settings = Settings()
    [engine] = [e for e in alert_processors(load_rules(settings, catalog), catalog, settings)
                if e.source == "fj.derived.pue"]
    site = "changle-dc1"
    state = engine.load_state({})
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    for minute in range(12):
        engine.step(state, Batch(site, [PueWindow(
            site=site, window_start=t0 + timedelta(minutes=minute),
            window_end=t0 + timedelta(minutes=minute + 1), facility_kwh=None, it_kwh=None,
            cooling_kwh=None, pue=1.6, pue_rolling=1.6, instant_kw_ratio=None, reason=None,
            rolling_reason=None)], 0.0))
    dumped = engine.dump_state(state)
    assert any(st["buffer"] or st["state"] != "inactive"
               for groups in dumped.values() for st in groups.values())
    assert shares(state, dumped) == []
    loaded = engine.load_state(json.loads(json.dumps(dumped)))
    assert engine.dump_state(loaded) == dumped
    assert shares(engine.load_state(dumped), dumped) == []
