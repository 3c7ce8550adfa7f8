"""A source that falls silent still gets its last windows closed and judged.

A windowed processor notes, per key, the wall-clock time its source's last record reached the
platform (the Kafka record's timestamp: when the bridge received it). Once that is
``{kind}.close_after_silence_seconds`` ago, its ``tick`` closes every window it still holds,
incomplete ones judged as incomplete (never dropped), and records for those windows that come
later are late, as after any final window.
"""

from __future__ import annotations

from streams.state import KeyState


class Heard(KeyState):
    """The part of a key's state that knows when its source last spoke."""

    heard: float | None = None  # wall-clock epoch seconds of the source's last record

    def hear(self, timestamp: float) -> None:
        """Note that the source spoke at ``timestamp`` (never moving the note back: records
        of a replay carry older timestamps)."""
        self.heard = timestamp if self.heard is None else max(self.heard, timestamp)

    def silent(self, wall: float, seconds: float) -> bool:
        """Whether the source has said nothing for ``seconds`` of wall-clock time."""
        return self.heard is not None and wall - self.heard >= seconds
