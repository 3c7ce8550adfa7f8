"""Which topic lands in which table: every stream of the registry that declares a table."""

from __future__ import annotations

from fjsense.registry import registry
from fjsense.sensorkind import Stream
from fjsense.settings import Settings
from fjsense.topics import all_streams


def stored_streams(settings: Settings) -> dict[str, Stream]:
    """Every topic the sink consumes, with its stream (and so its table), by topic."""
    return {t: s for t, s in all_streams(registry(settings.plugins)).items() if s.table is not None}
