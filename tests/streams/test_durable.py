"""The runner's guard: a processor's exception, or a record it cannot decode, becomes a dead
letter with the processor's name; the state stays as it was before; the rest goes on."""

from __future__ import annotations

import json
from typing import Any

from fjsense.deadletter import DeadLetter
from fjsense.sensorkind import Stream
from fjsense.topics import DEADLETTER
from streams.contract import Batch, Output
from streams.durable import guarded_step
from tests.thermometer.kind import KIND, MEANS, TempMean

SOURCE: Stream = KIND.raw


class Summer:
    """Adds temperatures up; raises on -99 °C after it has already touched the state."""

    name = "summer"
    source = KIND.raw_topic

    def step(self, state: dict[str, Any], batch: Batch) -> list[Output]:
        out = []
        for r in batch.items:
            state["total"] = state.get("total", 0.0) + r.temp_c
            state["n"] = state.get("n", 0) + 1
            if r.temp_c == -99.0:
                raise ValueError("a sensor fault code, not a temperature")
            out.append(Output(MEANS.topic, batch.key, TempMean(
                site=batch.key, window_start=r.ts, window_end=r.ts, readings=state["n"],
                mean_c=state["total"] / state["n"])))
        return out


def record(*temps: float) -> bytes:
    return json.dumps([{"device": "t1", "seq": n, "ts": f"2026-03-01T00:0{n}:00Z", "temp_c": t}
                       for n, t in enumerate(temps)]).encode()


def test_an_exception_dead_letters_the_reading_and_the_rest_goes_on():
    state, outputs = guarded_step(Summer(), SOURCE, {"total": 10.0, "n": 1}, "lab",
                                  record(20.0, -99.0, 30.0), 1.8e9)
    assert state == {"total": 60.0, "n": 3}  # 10 + 20 + 30: nothing of the faulty reading
    [letter] = [o.value for o in outputs if o.topic == DEADLETTER]
    assert isinstance(letter, DeadLetter) and letter.stage == "stream"
    assert letter.reason == "summer: ValueError: a sensor fault code, not a temperature"
    assert json.loads(letter.payload)["temp_c"] == -99.0 and letter.source == KIND.raw_topic
    assert [o.value.mean_c for o in outputs if o.topic != DEADLETTER] == [15.0, 20.0]


def test_a_record_that_cannot_be_decoded_is_a_dead_letter_and_changes_nothing():
    before = {"total": 1.0, "n": 1}
    state, [out] = guarded_step(Summer(), SOURCE, before, "lab", b'[{"temp_c": "hot"}]', 1.8e9)
    assert state == {"total": 1.0, "n": 1} and isinstance(out.value, DeadLetter)
    assert out.value.reason.startswith("summer: ValidationError") and out.value.payload == (
        b'[{"temp_c": "hot"}]')
