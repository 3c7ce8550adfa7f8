"""The soak benchmark's stall: time the pipeline owed readings and stored none. The driver's
own pause between chunks does not count once everything published is stored; a pause while a
backlog waits does."""

from __future__ import annotations

from benchmarks.soak import longest_stall

# two chunks of 100 readings: published over [0, 10] and [14, 24]
CHUNKS = [(0.0, 10.0, 100), (14.0, 24.0, 200)]


def samples(*counts: int) -> list[tuple[float, int]]:
    """Stored counts, one a second from t = 0."""
    return [(float(t), n) for t, n in enumerate(counts)]


def test_a_pipeline_that_keeps_up_does_not_stall_in_the_drivers_pause() -> None:
    # every second ten more stored; all 100 by t = 10, then nothing until the next chunk
    counts = [10 * t for t in range(11)] + [100] * 4 + [100 + 10 * t for t in range(1, 11)]
    assert longest_stall(samples(*counts), 0.0, 24.0, CHUNKS) == 1.0


def test_a_backlog_that_waits_through_the_pause_is_a_stall() -> None:
    # 80 of 100 stored by t = 8, then nothing until t = 16 though 20 were owed
    counts = [10 * t for t in range(9)] + [80] * 7 + [100 + 10 * t for t in range(9)]
    assert longest_stall(samples(*counts), 0.0, 24.0, CHUNKS) == 8.0


def test_a_stall_while_publishing_counts_from_the_last_rise_to_the_end() -> None:
    counts = [0, 10, 20] + [20] * 22
    assert longest_stall(samples(*counts), 0.0, 24.0, CHUNKS) == 22.0
    assert longest_stall(samples(*counts), 5.0, 5.0, CHUNKS) is None
