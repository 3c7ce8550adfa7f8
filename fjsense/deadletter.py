"""The dead-letter record: why a message (or one reading of it) was refused, where it came
from, and its original bytes."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime

from fjsense.sensorkind import Record


class DeadLetter(Record):
    """A refused message with its reason, kept whole so that an operator can see it and replay
    it once the cause is fixed."""

    stage: str
    reason: str
    source: str
    payload_b64: str
    received_at: AwareDatetime

    @classmethod
    def of(cls, stage: str, reason: str, source: str, payload: bytes,
           received_at: datetime) -> DeadLetter:
        """A letter of ``stage`` for ``payload`` (base64 on the wire: a payload need not be
        text)."""
        return cls(stage=stage, reason=reason, source=source,
                   payload_b64=base64.b64encode(payload).decode(), received_at=received_at)

    @property
    def payload(self) -> bytes:
        """The refused bytes, as they came."""
        return base64.b64decode(self.payload_b64)


DEAD_LETTER_COLUMNS = ("received_at", "stage", "reason", "source", "payload", "payload_sha")


def dead_letter_row(item: dict[str, Any]) -> tuple[Any, ...]:
    """A ``dead_letters`` row: the original bytes and their SHA-256, for de-duplication."""
    payload = base64.b64decode(item["payload_b64"])
    return (item["received_at"], item["stage"], item["reason"], item["source"], payload,
            hashlib.sha256(payload).hexdigest())
