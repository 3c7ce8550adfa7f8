"""The station catalog: regions and districts, sites of every kind, and their devices.

The shipped catalog holds the Digital Fujian sites; an operator's file (setting
``catalog.file``) adds regions and sites, or replaces shipped ones with the same id. Each site
names its sensor kind; the kind's own models validate the site's and devices' kind-specific
fields. Every error names the file and the line.
"""

from __future__ import annotations

from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fjsense.registry import SensorKind, registry
from fjsense.settings import Settings
from fjsense.yamlfile import YamlDoc, YamlError

CatalogError = YamlError
_E = TypeVar("_E", bound=BaseModel)
SHIPPED = ("catalog.yaml", "cells.yaml")  # the 5G sites, laid out by kinds/cells/sites.py
ID = r"^[a-z0-9][a-z0-9-]*$"


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class District(_Entry):
    """A county-level district: alerts roll up by it, and 5G coverage is judged per district."""

    id: str = Field(pattern=ID)
    name: str


class Region(_Entry):
    """A prefecture-level city of Fujian: the group a region rule and a roll-up judge."""

    id: str = Field(pattern=ID)
    name: str
    districts: tuple[District, ...] = ()


class Device(_Entry):
    # upper case too: an HJ 212 point's id is its MN (e.g. 010000A8900016F000169DC0)
    """One device of a site: its id is its MQTT login, ``spec`` its kind's catalog fields."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$",
                    description="also the device's MQTT username")
    kind: str
    spec: Any = Field(description="the kind's device fields (its device_fields model)")


class Site(_Entry):
    """A station (buoy, datacenter, cell site, discharge unit …) where devices are, with the
    place and district its alerts name."""

    id: str = Field(pattern=ID)
    name: str
    kind: str
    region: str
    district: str | None = None
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    spec: Any = Field(description="the kind's site fields (its site_fields model)")
    devices: tuple[Device, ...]


class BroadcastPoint(_Entry):
    """A smart broadcast point of the coast (a fishing port, a tourist area, a fish raft): a
    speaker that reads out the warnings of nearby stations. Its id is its MQTT login."""

    id: str = Field(pattern=ID, description="also the point's MQTT username")
    name: str
    type: Literal["fishing_port", "tourist_area", "fish_raft"]
    district: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Catalog(_Entry):
    """Regions, sites and devices, with the look-ups the bridge needs on every message, and
    the coast's broadcast points."""

    regions: tuple[Region, ...]
    sites: tuple[Site, ...]
    broadcast_points: tuple[BroadcastPoint, ...] = ()

    @cached_property
    def _devices(self) -> dict[str, tuple[Site, Device]]:
        return {d.id: (s, d) for s in self.sites for d in s.devices}

    def device(self, device_id: str) -> tuple[Site, Device] | None:
        """The site and device of ``device_id``, or None when the catalog does not know it."""
        return self._devices.get(device_id)

    def devices(self, kind: str | None = None) -> list[tuple[Site, Device]]:
        """Every (site, device), of ``kind``'s devices only when given: the broker's logins and
        ACL are made from them."""
        return [(s, d) for s, d in self._devices.values() if kind is None or d.kind == kind]

    def sites_of(self, kind: str) -> list[Site]:
        """The sites of one kind, in catalog order: simulators and panels iterate them."""
        return [s for s in self.sites if any(d.kind == kind for d in s.devices)]

    @cached_property
    def _sites(self) -> dict[str, Site]:
        return {s.id: s for s in self.sites}

    def site(self, site_id: str) -> Site:
        """The site ``site_id``; KeyError names it when the catalog has none (a typo in a rule
        or a command)."""
        try:
            return self._sites[site_id]
        except KeyError:
            raise KeyError(f"unknown site {site_id!r}") from None


_SITE_KEYS = set(Site.model_fields) - {"spec"}
_DEVICE_KEYS = set(Device.model_fields) - {"spec"}


def _kind_fields(doc: YamlDoc, path: list[str | int], data: dict[str, Any], common: set[str],
                 model: type[BaseModel]) -> tuple[dict[str, Any], BaseModel]:
    """Split an entry into its common keys and its kind's fields, validated by ``model``."""
    try:
        spec = model.model_validate({k: v for k, v in data.items() if k not in common})
    except ValidationError as exc:
        raise doc.invalid(path, exc) from None
    return {k: v for k, v in data.items() if k in common}, spec


def _site(doc: YamlDoc, n: int, data: Any, kinds: dict[str, SensorKind]) -> Site:
    path: list[str | int] = ["sites", n]
    if not isinstance(data, dict):
        raise doc.error(path, "a site is a mapping")
    kind = kinds.get(data.get("kind", ""))
    if kind is None:
        raise doc.error([*path, "kind"], f"unknown sensor kind {data.get('kind')!r}; known: "
                                         f"{', '.join(sorted(kinds))}")
    common, spec = _kind_fields(doc, path, data, _SITE_KEYS, kind.site_fields)
    devices = []
    for m, item in enumerate(common.get("devices") or ()):
        dpath: list[str | int] = [*path, "devices", m]
        if not isinstance(item, dict):
            raise doc.error(dpath, "a device is a mapping")
        dkind = kinds.get(item.get("kind", kind.name))
        if dkind is None:
            raise doc.error([*dpath, "kind"], f"unknown sensor kind {item.get('kind')!r}")
        dcommon, dspec = _kind_fields(doc, dpath, item, _DEVICE_KEYS, dkind.device_fields)
        try:
            devices.append(Device.model_validate({**dcommon, "kind": dkind.name, "spec": dspec}))
        except ValidationError as exc:
            raise doc.invalid(dpath, exc) from None
    try:
        return Site.model_validate({**common, "spec": spec, "devices": tuple(devices)})
    except ValidationError as exc:
        raise doc.invalid(path, exc) from None


def _entries(doc: YamlDoc, section: str, model: type[_E]) -> list[_E]:
    """The entries of a section, each validated by ``model``."""
    found = []
    for n, item in enumerate(doc.data.get(section) or ()):
        try:
            found.append(model.model_validate(item))
        except ValidationError as exc:
            raise doc.invalid([section, n], exc) from None
    return found


def _parse(doc: YamlDoc, kinds: dict[str, SensorKind]
           ) -> tuple[list[Region], list[Site], list[BroadcastPoint]]:
    if not isinstance(doc.data, dict) or not set(doc.data) <= {"regions", "sites",
                                                               "broadcast_points"}:
        raise doc.error([], "a catalog is a mapping with `regions`, `sites` and "
                            "`broadcast_points`")
    sites = [_site(doc, n, item, kinds) for n, item in enumerate(doc.data.get("sites") or ())]
    return (_entries(doc, "regions", Region), sites,
            _entries(doc, "broadcast_points", BroadcastPoint))


def _check(catalog: Catalog, where: dict[str, tuple[YamlDoc, int]]) -> None:
    """Cross references: regions and districts exist, device and broadcast point ids (MQTT
    logins both) are unique."""
    regions = {r.id: r for r in catalog.regions}
    seen: dict[str, str] = {}
    districts = {d.id for r in catalog.regions for d in r.districts}
    for point in catalog.broadcast_points:
        doc, n = where[f"broadcast point {point.id}"]
        if point.district not in districts:
            raise doc.error(["broadcast_points", n, "district"],
                            f"no district {point.district!r} in the catalog's regions")
        seen[point.id] = f"broadcast point {point.id!r}"
    for site in catalog.sites:
        doc, n = where[site.id]
        region = regions.get(site.region)
        if region is None:
            raise doc.error(["sites", n, "region"], f"unknown region {site.region!r}")
        if site.district is not None and site.district not in {d.id for d in region.districts}:
            raise doc.error(["sites", n, "district"],
                            f"region {region.id!r} has no district {site.district!r}")
        for m, device in enumerate(site.devices):
            if device.id in seen:
                raise doc.error(["sites", n, "devices", m, "id"],
                                f"device {device.id!r} is listed already ({seen[device.id]}): "
                                "ids are MQTT logins")
            seen[device.id] = f"site {site.id!r}"


def load_catalog(file: Path | None = None, plugins: tuple[str, ...] = ()) -> Catalog:
    """The shipped catalog (its files in order), with the operator's ``file`` (if any) merged
    over it by id."""
    kinds = registry(plugins)
    docs = [YamlDoc.parse(resources.files("fjsense").joinpath(name).read_text(encoding="utf-8"),
                          f"fjsense/{name}") for name in SHIPPED]
    if file is not None:
        try:
            docs.append(YamlDoc.parse(file.read_text(encoding="utf-8"), str(file)))
        except OSError as exc:
            raise CatalogError(f"{file}: cannot read the catalog file: {exc.strerror}") from None
    regions: dict[str, Region] = {}
    sites: dict[str, Site] = {}
    points: dict[str, BroadcastPoint] = {}
    where: dict[str, tuple[YamlDoc, int]] = {}
    for doc in docs:
        got_regions, got_sites, got_points = _parse(doc, kinds)
        regions.update((r.id, r) for r in got_regions)
        for n, site in enumerate(got_sites):
            sites[site.id] = site
            where[site.id] = (doc, n)
        for n, point in enumerate(got_points):
            points[point.id] = point
            where[f"broadcast point {point.id}"] = (doc, n)
    catalog = Catalog(regions=tuple(regions.values()), sites=tuple(sites.values()),
                      broadcast_points=tuple(points.values()))
    _check(catalog, where)
    return catalog


def catalog_of(settings: Settings) -> Catalog:
    """The catalog a process with ``settings`` works with."""
    return load_catalog(settings.catalog.file, settings.plugins)
