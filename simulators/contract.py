"""What a kind's simulator must do: declare its options, and turn them (or the demo's wish
for something worth watching) into the messages its devices would publish, in event time."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Protocol

from fjsense.catalog import Catalog
from fjsense.settings import Settings
from simulators.messages import SimMessage


class Simulator(Protocol):
    """What a kind's simulator must do: its options, its scenario, and a demo with something to
    alert on."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The kind's own options of ``fjsense simulate KIND``."""

    def messages(self, settings: Settings, catalog: Catalog, args: argparse.Namespace,
                 now: datetime, span: timedelta) -> Iterator[SimMessage]:
        """The scenario the options describe, ending at ``now``; ValueError if impossible."""

    def demo(self, settings: Settings, catalog: Catalog, now: datetime,
             span: timedelta) -> Iterator[SimMessage]:
        """A scenario for ``fjsense demo``, with an event that raises an alert."""
