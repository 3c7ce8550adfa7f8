"""The sensor-kind registry: every kind the platform serves, built in or named as a plugin.

A kind is a module with a ``KIND`` (a ``fjsense.sensorkind.SensorKind``). The bridge, the
worker, the sink, ``kafka_admin``, the dashboards, the demo and the CLI iterate this registry;
none of them names a kind. Operators add kinds with the ``plugins`` setting (module paths).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import lru_cache

from fjsense.sensorkind import Component, Reading, SensorKind, Stream

__all__ = ["BUILTIN", "Component", "Reading", "SensorKind", "components", "registry", "streams"]

BUILTIN = ("kinds.power.kind", "kinds.buoy.kind", "kinds.tide.kind",
           "kinds.cells.cell", "kinds.cells.mr", "kinds.pollution.kind")


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


def components(kinds: dict[str, SensorKind]) -> dict[str, Component]:
    """Every kind's own components (a gateway …) by name."""
    return {c.name: c for kind in kinds.values() for c in kind.components}


def streams(kinds: dict[str, SensorKind]) -> dict[str, Stream]:
    """Every kind's stream (raw and derived) by topic."""
    return {s.topic: s for kind in kinds.values() for s in kind.streams}
