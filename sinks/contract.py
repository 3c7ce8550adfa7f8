"""What a sink must do: *add* records, then *flush* them durably; offsets follow flushes.

The runner commits Kafka offsets only after ``flush`` returned; if ``flush`` raises, nothing is
committed and the same records come again. A sink must therefore write idempotently (natural
keys), so that a replay after a crash neither loses nor doubles a row.
"""

from __future__ import annotations

from typing import Any, Protocol

from fjsense.sensorkind import Table


class Sink(Protocol):
    """What a sink must do: stage rows per Kafka record and write them in one transaction,
    idempotently."""

    def add(self, table: Table, rows: list[tuple[Any, ...]], source: str,
            timestamp_ms: int) -> None:
        """Stage the rows of one Kafka record (a batch) of topic ``source`` for ``table``."""

    async def flush(self) -> dict[str, int]:
        """Write everything staged in one transaction; returns rows newly stored per table."""
