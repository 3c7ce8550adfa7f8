"""The PUE processor over batches: windows out, and one dead letter for a batch's late ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fjsense.catalog import load_catalog
from fjsense.deadletter import DeadLetter
from fjsense.settings import Settings
from kinds.power.kind import KIND, PueWindow
from kinds.power.processor import PueProcessor
from streams.contract import Batch

T0 = datetime(2026, 5, 1, tzinfo=UTC)
METERS = (("changle-dc1-m01", "facility", 1200.0), ("changle-dc1-m02", "it", 1000.0),
          ("changle-dc1-m03", "cooling", 150.0))


def batch(start_s: int, minutes: int) -> Batch:
    body = [{"device": d, "seq": start_s + k, "ts": (T0 + timedelta(seconds=start_s + 10 * k))
             .isoformat(), "circuit": c, "kw": kw, "kwh": 1e5 + kw * (start_s + 10 * k) / 3600}
            for k in range(minutes * 6 + 1) for d, c, kw in METERS]
    return Batch("changle-dc1", KIND.raw.decode(json.dumps(body).encode()), T0.timestamp())


def test_windows_from_a_batch_and_one_letter_for_its_late_readings():
    processor = PueProcessor(Settings(), load_catalog())
    state = processor.load_state({})  # a site never seen, as the worker starts it
    first = processor.step(state, batch(0, 20))
    windows = [o.value for o in first]
    assert all(isinstance(w, PueWindow) for w in windows) and len(windows) == 18
    assert all(abs(w.pue - 1.2) < 1e-9 for w in windows)  # type: ignore[union-attr,operator]
    late = processor.step(state, batch(0, 5))  # the first five minutes again, now too late
    [letter] = [o.value for o in late]
    assert isinstance(letter, DeadLetter) and letter.stage == "pue"
    assert letter.reason.startswith("93 readings of changle-dc1 up to 1200s older")
    assert len(json.loads(letter.payload)) == 93
    kept = processor.dump_state(state)  # the state as the changelog keeps it, and back
    assert kept["site"] == "changle-dc1" and processor.dump_state(processor.load_state(
        json.loads(json.dumps(kept)))) == kept
