"""A source that falls silent still gets its last windows closed and judged.

A windowed processor notes, per key, the wall-clock time its source's last record reached the
platform (the Kafka record's timestamp: when the bridge received it). Once that is
``{kind}.close_after_silence_seconds`` ago, its ``tick`` closes every window it still holds,
incomplete ones judged as incomplete (never dropped), and records for those windows that come
later are late, as after any final window.
"""

from __future__ import annotations

from typing import Any

HEARD = "heard"  # in a key's state: wall-clock epoch seconds of its source's last record


def heard(state: dict[str, Any], timestamp: float) -> None:
    """Note that the source spoke at ``timestamp`` (never moving the note back)."""
    state[HEARD] = max(state.get(HEARD, timestamp), timestamp)


def silent(state: dict[str, Any], wall: float, seconds: float) -> bool:
    """Whether the source has said nothing for ``seconds`` of wall-clock time."""
    return HEARD in state and wall - state[HEARD] >= seconds
