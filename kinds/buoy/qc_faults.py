"""Sensor faults injected into recorded or simulated rows, to prove the QC: spikes, stuck
sensors and out-of-range values. Each returns the points it touched, so the QC's hit rate on
them, and its false alarms on the rest, can be counted."""

from __future__ import annotations

import dataclasses
import random

from kinds.buoy.kind import VARIABLES
from simulators.recorded import Row
from streams.qartod_config import VariableQc

Point = tuple[int, str]  # (row line, variable)


@dataclasses.dataclass(frozen=True)
class FaultPlan:
    spikes: int = 150
    out_of_range: int = 50
    stuck_runs: int = 12
    # each stuck run holds the value for a number of rows drawn from this range (hourly rows:
    # 3-6 hours; a 15-minute record takes (12, 24) for the same hours)
    stuck_rows: tuple[int, int] = (3, 6)
    # the variables a sensor gets stuck in (None: any with a flat-line test). A run shorter
    # than a variable's flat-line window cannot be told from a real steady value, so a plan
    # for short runs names the variables whose windows are shorter than the runs.
    stuck_variables: tuple[str, ...] | None = None


def inject(rows: list[Row], qc: dict[str, VariableQc], plan: FaultPlan,
           seed: int = 0) -> tuple[list[Row], set[Point]]:
    """Rows with the plan's faults, and the points made faulty (a stuck run's first value is
    the sensor's last true one: not counted)."""
    rng = random.Random(seed)
    values = [dict(r.values) for r in rows]
    touched: set[Point] = set()

    def pick(wanted: str, among: tuple[str, ...] | None = None) -> tuple[int, str]:
        while True:
            i = rng.randrange(len(rows))
            names = [v for v in values[i] if getattr(qc[v], wanted) is not None
                     and (among is None or v in among) and (rows[i].line, v) not in touched]
            if names:
                return i, rng.choice(names)

    for _ in range(plan.spikes):
        i, name = pick("spike")
        spike = qc[name].spike
        assert spike is not None
        jump = spike[1] * rng.uniform(1.5, 4)
        _, low, high = VARIABLES[name]
        down, up = values[i][name] - jump, values[i][name] + jump
        # a spike either way, where that stays possible (a calm wind cannot spike below zero)
        values[i][name] = rng.choice([v for v in (down, up) if low <= v <= high] or [high])
        touched.add((rows[i].line, name))
    for _ in range(plan.out_of_range):
        i, name = pick("sensor")
        low, high = qc[name].sensor
        _, impossible_low, impossible_high = VARIABLES[name]
        beyond = [v for v in (high + 0.1 * (high - low), low - 0.1 * (high - low))
                  if impossible_low <= v <= impossible_high]
        if not beyond:
            continue  # a direction: its sensor span is all that is possible
        values[i][name] = rng.choice(beyond)
        touched.add((rows[i].line, name))
    for _ in range(plan.stuck_runs):
        i, name = pick("flat_s", plan.stuck_variables)
        held = values[i][name]
        for j in range(i + 1, min(i + 1 + rng.randint(*plan.stuck_rows), len(rows))):
            if name in values[j]:
                values[j][name] = held
                touched.add((rows[j].line, name))
    return [dataclasses.replace(r, values=v) for r, v in zip(rows, values, strict=True)], touched
