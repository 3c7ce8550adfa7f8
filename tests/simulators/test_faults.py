"""Fault injection keeps its promises: what it drops, doubles, delays and corrupts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from fjsense.catalog import load_catalog
from kinds.power.simulator import PowerScenario, generate, scenario_sites
from simulators.faults import Faults
from simulators.messages import SimMessage, arrays

SCENARIO = PowerScenario(scenario_sites(load_catalog(), 2), datetime(2026, 1, 1, tzinfo=UTC),
                         timedelta(hours=1))


def test_no_faults_is_the_identity():
    clean = list(generate(SCENARIO))
    assert list(Faults().apply(clean)) == clean
    assert len(clean) == 2 * 3 * 361


def test_faults_drop_double_delay_and_corrupt_at_their_rates():
    clean = list(generate(SCENARIO))
    out = list(Faults(dropout=0.05, duplicate=0.05, reorder=0.1, malformed=0.05, seed=1).apply(clean))
    valid = [m for m in out if m.valid]
    copies = Counter((m.device, m.seqs) for m in valid)
    dropped = len(clean) - len(copies)
    assert 0.03 * len(clean) < dropped < 0.07 * len(clean)
    assert 0.03 * len(clean) < sum(n - 1 for n in copies.values()) < 0.07 * len(clean)
    assert 0.03 * len(clean) < len(out) - len(valid) < 0.07 * len(clean)
    newest: dict[str, int] = {}
    late = 0
    for m in valid:  # per device: readings that arrive after a later one
        late += m.seqs[0] < newest.get(m.device, -1)
        newest[m.device] = max(newest.get(m.device, -1), m.seqs[0])
    assert 0.03 * len(clean) < late < 0.15 * len(clean)
    assert all(m.seqs == () for m in out if not m.valid)


def test_same_seed_same_stream():
    faults = Faults(dropout=0.1, duplicate=0.1, reorder=0.1, malformed=0.1, seed=42)
    assert list(faults.apply(generate(SCENARIO))) == list(faults.apply(generate(SCENARIO)))


def test_arrays_span_at_most_max_span_of_event_time() -> None:
    messages = [SimMessage(600.0 * i, "fj/buoy/s/d", b"{}", "d", (i,)) for i in range(6)]
    grouped = list(arrays(messages, 3, 3, max_span=900))
    assert [m.seqs for m in grouped] == [(0, 1), (2, 3), (4, 5)]
