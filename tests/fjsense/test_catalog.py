"""The catalog: regions, sites of every kind with kind-checked fields, and an operator's file
whose every error names the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from fjsense.catalog import CatalogError, load_catalog
from kinds.power.kind import Datacenter, PowerDevice

SITE = """sites:
  - id: fuqing-dc1
    name: Fuqing Yuanhong datacenter
    kind: power
    region: fuzhou
    district: fuqing
    lat: 25.72
    lon: 119.38
    it_design_kw: 500
    devices:
      - {id: fuqing-dc1-m01, circuit: facility, rated_kw: 900}
      - {id: fuqing-dc1-m02, circuit: it, rated_kw: 700}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    return path


def test_shipped_catalog_has_regions_districts_and_kind_fields():
    catalog = load_catalog()
    assert {"fuzhou", "xiamen", "quanzhou", "ningde"} <= {r.id for r in catalog.regions}
    site, device = catalog.device("anxi-dc1-m02")  # type: ignore[misc]
    assert (site.region, site.district, site.spec) == ("quanzhou", "anxi", Datacenter(it_design_kw=1200))
    assert device.spec == PowerDevice(circuit="it", rated_kw=2200)


def test_an_operators_file_adds_sites_and_replaces_by_id(tmp_path: Path):
    replaced = SITE.replace("fuqing-dc1", "mawei-dc1").replace("500", "650")
    catalog = load_catalog(write(tmp_path, SITE + replaced.removeprefix("sites:\n")))
    assert catalog.site("fuqing-dc1").spec.it_design_kw == 500
    assert catalog.site("mawei-dc1").spec.it_design_kw == 650  # the operator's wins
    assert len(catalog.sites_of("power")) == 5 and catalog.device("mawei-dc1-m03") is None


@pytest.mark.parametrize("edit, message", [
    (("rated_kw: 700", "rated_kw: -7"), ":12: sites[0].devices[1].rated_kw: Input should be greater than 0"),
    (("circuit: it,", "circuit: gas,"), ":12: sites[0].devices[1].circuit: Input should be"),
    (("    it_design_kw: 500\n", ""), ":2: sites[0].it_design_kw: Field required"),
    (("    it_design_kw: 500\n", "    it_design_kw: 500\n    pue_goal: 1.2\n"),
     ":10: sites[0].pue_goal: unknown field 'pue_goal'"),
    (("kind: power", "kind: windmill"), ":4: sites[0].kind: unknown sensor kind 'windmill'"),
    (("region: fuzhou", "region: taipei"), ":5: sites[0].region: unknown region 'taipei'"),
    (("district: fuqing", "district: siming"), ":6: sites[0].district: region 'fuzhou' has no district 'siming'"),
    (("fuqing-dc1-m02", "anxi-dc1-m01"), ":12: sites[0].devices[1].id: device 'anxi-dc1-m01' is listed already (site 'anxi-dc1'): ids are MQTT logins"),
    # a broadcast point's id is its MQTT login too: a device may not take it
    (("fuqing-dc1-m02", "xiamen-gaoqi-port"), ":12: sites[0].devices[1].id: device 'xiamen-gaoqi-port' is listed already (broadcast point 'xiamen-gaoqi-port'): ids are MQTT logins"),
    (("lat: 25.72", "lat: [25"), ":7: not valid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 7, column 10; parsing failed at line 8)"),
])
def test_errors_name_the_file_and_line(tmp_path: Path, edit: tuple[str, str], message: str):
    path = write(tmp_path, SITE.replace(*edit))
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    assert str(raised.value).startswith(str(path)) and message in str(raised.value), raised.value


def test_a_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(CatalogError, match="cannot read the catalog file"):
        load_catalog(tmp_path / "nope.yaml")
