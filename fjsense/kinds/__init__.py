"""The sensor-kind registry: every kind the platform serves, built in or named as a plugin.

A kind is a module with a ``KIND`` (a ``fjsense.kinds.base.SensorKind``). The bridge, the
worker, the sink, ``kafka_admin``, the dashboards, the demo and the CLI iterate this registry;
none of them names a kind. Operators add kinds with the ``plugins`` setting (module paths).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import lru_cache

from fjsense.kinds.base import Reading, SensorKind, Stream

__all__ = ["BUILTIN", "Reading", "SensorKind", "registry", "streams"]

BUILTIN = ("fjsense.kinds.power", "fjsense.kinds.buoy", "fjsense.kinds.tide",
           "fjsense.kinds.cell", "fjsense.kinds.mr", "fjsense.kinds.pollution")


@lru_cache(maxsize=8)
def _load(modules: tuple[str, ...]) -> dict[str, SensorKind]:
    kinds: dict[str, SensorKind] = {}
    for module in modules:
        try:
            kind = importlib.import_module(module).KIND
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"plugin {module!r} is not a module with a KIND: {exc}") from None
        if not isinstance(kind, SensorKind):
            raise ValueError(f"plugin {module!r}: KIND is not a SensorKind")  # noqa: TRY004
        if kind.name in kinds:
            raise ValueError(f"plugin {module!r}: a kind named {kind.name!r} exists already")
        kinds[kind.name] = kind
    return kinds


def registry(plugins: Iterable[str] = ()) -> dict[str, SensorKind]:
    """Every sensor kind by name: the built-in ones, then ``plugins`` (module paths)."""
    return _load((*BUILTIN, *(p for p in plugins if p not in BUILTIN)))


def streams(kinds: dict[str, SensorKind]) -> dict[str, Stream]:
    """Every kind's stream (raw and derived) by topic."""
    return {s.topic: s for kind in kinds.values() for s in kind.streams}
