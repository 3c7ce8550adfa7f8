"""The dead-letter envelope: why a message was refused, where it came from, its original bytes."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DeadLetter:
    stage: str
    reason: str
    source: str
    payload: bytes
    received_at: datetime

    def to_dict(self) -> dict[str, str]:
        return {
            "stage": self.stage,
            "reason": self.reason,
            "source": self.source,
            "payload_b64": base64.b64encode(self.payload).decode(),
            "received_at": self.received_at.isoformat(),
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_dict()).encode()

    @classmethod
    def decode(cls, raw: bytes) -> DeadLetter:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            stage=data["stage"],
            reason=data["reason"],
            source=data["source"],
            payload=base64.b64decode(data["payload_b64"]),
            received_at=datetime.fromisoformat(data["received_at"]),
        )
