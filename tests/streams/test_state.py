"""Every built-in kind's processor keeps a typed state: it survives the changelog's JSON
unchanged, a copy to step on is independent of it, and an entry that does not fit the model
(another version's field) is refused by name instead of being half read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pydantic import ValidationError

from fjsense.catalog import load_catalog
from fjsense.settings import Settings
from kinds.power.kind import PowerReading
from kinds.power.processor import PueProcessor
from streams.app import kind_processors
from streams.contract import Batch, TypedState

BUILT_IN = {"pue", "buoy-qc", "buoy-quality", "tide", "cell-kpi", "coverage-parts",
            "coverage-sums", "pollution"}


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
