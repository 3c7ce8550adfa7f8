"""The embedded stack a benchmark runs on: its servers up, the topics and tables made, and
every component it starts stopped again however the run ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.processes import Components
from fjsense.kafka_admin import ensure_topics
from fjsense.settings import Settings
from fjsense.stack import LocalStack
from sinks.migrate import bootstrap


@contextmanager
def embedded_stack(settings: Settings, home: Path) -> Iterator[tuple[LocalStack, Components]]:
    """Mosquitto, Tansu and PostgreSQL on the settings' ports, with the components' logs in
    ``home/logs``; the servers and components are stopped on the way out."""
    stack = LocalStack(settings)
    stack.up()
    parts = Components(settings, home / "logs", verbose=False)
    try:
        ensure_topics(settings)
        bootstrap(settings)
        yield stack, parts
    finally:
        parts.stop_all()
        stack.down()
