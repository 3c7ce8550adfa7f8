"""docker-compose.yml and the Dockerfile agree with the code: commands, settings, files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli import build_parser
from dashboards.build import datasource
from app.processes import all_components
from fjsense.registry import components, registry
from fjsense.settings import Settings, names_a_setting

ROOT = Path(__file__).parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = {name: s for name, s in SERVICES.items() if "build" in s}


def test_every_service_has_an_image_or_a_build():
    assert set(SERVICES) >= {"mosquitto", "kafka", "timescaledb", "grafana", "bridge-1",
                             "bridge-2", "worker", "sink", "notify", "hj212", "simulator",
                             "migrate"}
    for name, service in SERVICES.items():
        assert "image" in service or "build" in service, name
    assert SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert SERVICES["timescaledb"]["image"].startswith("timescale/timescaledb:")


@pytest.mark.parametrize("name", sorted(OURS))
def test_fjsense_services_run_real_commands_with_real_settings(name: str):
    service = OURS[name]
    args = build_parser().parse_args(service["command"])
    assert callable(args.func)
    env = service["environment"]
    assert env, name
    for key in env:
        assert key.startswith("FJSENSE_") and names_a_setting(key), key
    # every fjsense service reaches the production servers, not an embedded stack
    settings = Settings.model_validate({
        "mqtt": {"host": env["FJSENSE_MQTT__HOST"]},
        "kafka": {"bootstrap": env["FJSENSE_KAFKA__BOOTSTRAP"]},
        "database": {"host": env["FJSENSE_DATABASE__HOST"]},
    })
    assert settings.mqtt.external and settings.kafka.external and settings.database.external
    assert env["FJSENSE_KAFKA__BOOTSTRAP"].split(":")[0] in SERVICES
    assert env["FJSENSE_DATABASE__HOST"] in SERVICES and env["FJSENSE_MQTT__HOST"] in SERVICES


def test_secrets_come_from_the_environment_only():
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?set it\}", str(value)), (name, key)


def test_grafana_gets_the_password_its_provisioned_datasource_names():
    source = datasource(Settings())["datasources"][0]
    placeholder = source["secureJsonData"]["password"]
    assert placeholder.lstrip("$") in SERVICES["grafana"]["environment"]
    assert source["user"] == Settings().database.reader_user
    mounts = SERVICES["grafana"]["volumes"]
    assert "./build/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


def test_mosquitto_reads_the_auth_files_broker_auth_writes():
    conf = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    out = OURS["broker-auth"]["command"][-1]
    assert f"password_file {out}/passwd" in conf and f"acl_file {out}/acl" in conf


def test_dockerfile_copies_every_package():
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    packages = [pattern.rstrip("*") for pattern in find["find"]["include"]]
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in packages:
        assert f"COPY {package} {package}" in dockerfile


def test_bridges_each_have_their_own_session():
    ids = [OURS[name]["command"][-1] for name in ("bridge-1", "bridge-2")]
    for name in ("bridge-1", "bridge-2"):
        args = build_parser().parse_args(OURS[name]["command"])
        assert args.client_id == OURS[name]["command"][-1]
    assert len(set(ids)) == 2


SERVED = [n if n != "bridge" else f"bridge-{i}" for n in all_components(registry())
          for i in ((1, 2) if n == "bridge" else (0,))]


def test_every_component_the_kinds_declare_has_its_service():
    """A kind's component (the HJ 212 gateway) runs as its own service, listening where its
    settings say; its devices reach it through a published port."""
    declared = components(registry())
    assert "hj212" in declared
    for name, component in declared.items():
        service = OURS[name]
        assert service["command"] == [name]
        if component.tcp:
            port = component.settings_model.model_fields["port"].default
            assert service["environment"][f"FJSENSE_{name.upper()}__HOST"] == "0.0.0.0"
            assert any(p.endswith(f":{port}") for p in service["ports"])


@pytest.mark.parametrize("name", SERVED)
def test_components_restart_and_are_checked_through_their_own_endpoint(name: str):
    service = OURS[name]
    assert service["restart"] == "unless-stopped"
    check = service["healthcheck"]["test"]
    assert check[:2] == ["CMD", "fjsense"]
    args = build_parser().parse_args(check[2:])
    assert args.command == "health" and args.component == service["command"][0]
    assert service["healthcheck"]["start_period"] and service["healthcheck"]["retries"] >= 3


def test_prometheus_scrapes_every_served_component_on_its_health_port():
    """The monitoring profile's Prometheus finds each component by its service name (every
    replica of a scaled one) on the port its settings serve /health and /metrics on, and the
    components listen beyond their container's loopback."""
    prometheus = SERVICES["prometheus"]
    assert prometheus["profiles"] == ["monitoring"] and prometheus["image"].startswith(
        "prom/prometheus:")
    mount = next(v for v in prometheus["volumes"] if v.endswith(":/etc/prometheus/prometheus.yml:ro"))
    config = yaml.safe_load((ROOT / mount.split(":")[0]).read_text())
    [job] = config["scrape_configs"]
    scraped = {(name, sd["port"]) for sd in job["dns_sd_configs"] for name in sd["names"]}
    assert all(sd["type"] == "A" for sd in job["dns_sd_configs"])
    settings = Settings()
    expected = {(name, settings.health_port(OURS[name]["command"][0])) for name in SERVED}
    assert scraped == expected
    for name in SERVED:
        assert OURS[name]["environment"]["FJSENSE_HEALTH__HOST"] == "0.0.0.0"
