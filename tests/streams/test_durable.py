"""The runner's guard: a processor's exception, or a record it cannot decode, becomes a dead
letter with the processor's name; the state stays as it was before; the rest goes on. A typed
state is loaded once per entry the table holds."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import faust
import pytest

from fjsense.deadletter import DeadLetter
from fjsense.sensorkind import Stream
from fjsense.topics import DEADLETTER
from streams.contract import Batch, Output
from streams.durable import DurableRunner, guarded_step
from streams.state import KeyState, ModelState
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


class Total(KeyState):
    """A typed state: the temperatures' sum."""

    total: float = 0.0


class TypedSummer(ModelState[Total]):
    """Adds temperatures up in a typed state; counts how often its state is loaded."""

    name = "typed-summer"
    source = KIND.raw_topic
    state_model = Total

    def __init__(self) -> None:
        self.loads = 0
        self.copies = 0

    def load_state(self, data: dict[str, Any]) -> Total:
        self.loads += 1
        return super().load_state(data)

    def copy_state(self, state: Total) -> Total:
        self.copies += 1
        return super().copy_state(state)

    def step(self, state: Total, batch: Batch) -> list[Output]:
        """Raises on -99 °C after it has already added it up."""
        for r in batch.items:
            state.total += r.temp_c
            if r.temp_c == -99.0:
                raise ValueError("a sensor fault code, not a temperature")
        return []


def test_a_typed_state_is_loaded_once_per_entry_the_table_holds(tmp_path: Path) -> None:
    app = faust.App("loads", store="memory://", datadir=str(tmp_path), web_enabled=False)
    processor = TypedSummer()
    runner = DurableRunner(app, processor, SOURCE, partitions=1)
    written = {"offset": 3, "partition": 0, "state": {"total": 21.5}, "outbox": []}
    runner.table.data["lab"] = written
    first = runner.typed_state("lab", written)
    assert first.total == 21.5 and processor.loads == 1
    assert runner.typed_state("lab", written) is first and processor.loads == 1
    # a recovered entry is another object, though equal: loaded afresh
    recovered = {**written, "state": {"total": 30.0}}
    runner.table.data["lab"] = recovered
    assert runner.typed_state("lab", recovered).total == 30.0 and processor.loads == 2
    # a key never seen starts from an empty state, and nothing is remembered for it
    assert runner.typed_state("new", None).total == 0.0 and "new" not in runner.loaded
    # a step works on a copy: the remembered state is unchanged
    state, _ = guarded_step(processor, SOURCE, runner.typed_state("lab", recovered), "lab",
                            record(1.0), 0.0)
    assert (state.total, runner.typed_state("lab", recovered).total) == (31.0, 30.0)
    # after a recovery, states whose entries the table no longer holds are let go
    gone = {"offset": 1, "partition": 1, "state": {"total": 2.0}, "outbox": []}
    runner.table.data["moved"] = gone
    runner.typed_state("moved", gone)
    del runner.table.data["moved"]
    asyncio.run(runner.forget_replaced_states())
    assert list(runner.loaded) == ["lab"] and runner.loaded["lab"][0] is recovered


def test_a_state_that_can_be_loaded_again_is_stepped_on_in_place_without_a_copy() -> None:
    processor = TypedSummer()
    entry = {"total": 10.0}
    state = processor.load_state(entry)
    after, outputs = guarded_step(processor, SOURCE, state, "lab", record(20.0, 5.0), 1.8e9,
                                  pristine=lambda: processor.load_state(entry))
    assert after is state and after.total == 35.0 and outputs == []
    assert processor.copies == 0 and processor.loads == 1


def test_a_failed_step_in_place_starts_again_from_the_state_loaded_afresh() -> None:
    processor = TypedSummer()
    entry = {"total": 10.0}
    state = processor.load_state(entry)
    after, outputs = guarded_step(processor, SOURCE, state, "lab", record(20.0, -99.0, 5.0),
                                  1.8e9, pristine=lambda: processor.load_state(entry))
    # 10 + 20 + 5: the failed batch's marks on the state it was given are gone
    assert after.total == 35.0 and after is not state and processor.loads == 2
    [letter] = [o.value for o in outputs]
    assert isinstance(letter, DeadLetter) and json.loads(letter.payload)["temp_c"] == -99.0


def test_a_changelog_entry_is_plain_json_and_numpys_numbers_are_plain_numbers() -> None:
    """The runner writes entries with orjson; numpy's scalars, which orjson refuses and the
    standard library wrote, come out as plain numbers; faust reads the entry back as it was."""
    import numpy as np
    from faust.serializers import codecs

    from streams.durable import entry_json

    entry = {"offset": 41, "partition": 3, "state": {"total": np.float64(21.5), "n": np.int64(
        3), "ok": True, "since": None, "hours": {"1764547200": [1.25, 3]}},
        "outbox": [["fj.alerts", "lab", "[{\"a\":1}]"]]}
    written = entry_json(entry)
    assert json.loads(written) == json.loads(json.dumps(entry, default=float))
    assert json.loads(written)["state"]["n"] == 3 and isinstance(
        json.loads(written)["state"]["n"], int)
    assert codecs.loads("json", written) == entry  # as faust's recovery reads it
    with pytest.raises(TypeError, match="PosixPath"):
        entry_json({"state": {"file": Path("/tmp/x")}})
