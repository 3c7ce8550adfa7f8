"""The station catalog: which sites exist, which devices each has, what each device measures."""

from __future__ import annotations

from functools import cached_property
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field


class Device(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: str
    circuit: str | None = None
    rated_kw: float | None = Field(None, gt=0)


class Site(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    kind: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    it_design_kw: float | None = Field(None, gt=0)
    devices: tuple[Device, ...]


class Catalog(BaseModel):
    """Sites and devices, with the look-ups the bridge needs on every message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sites: tuple[Site, ...]

    @cached_property
    def _devices(self) -> dict[str, tuple[Site, Device]]:
        return {d.id: (s, d) for s in self.sites for d in s.devices}

    def device(self, device_id: str) -> tuple[Site, Device] | None:
        """The site and device of ``device_id``, or None when the catalog does not know it."""
        return self._devices.get(device_id)

    def devices(self, kind: str | None = None) -> list[tuple[Site, Device]]:
        return [(s, d) for s, d in self._devices.values() if kind is None or d.kind == kind]

    def site(self, site_id: str) -> Site:
        for site in self.sites:
            if site.id == site_id:
                return site
        raise KeyError(f"unknown site {site_id!r}")


def load_catalog(path: Path | None = None) -> Catalog:
    """Read the catalog at ``path``, or the one shipped with fjsense."""
    if path is None:
        text = resources.files("fjsense").joinpath("catalog.yaml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    catalog = Catalog.model_validate(yaml.safe_load(text))
    ids = [d.id for s in catalog.sites for d in s.devices]
    if len(ids) != len(set(ids)):
        raise ValueError("catalog lists a device id twice")
    return catalog
