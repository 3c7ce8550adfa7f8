"""`fjsense dashboards build`: dashboards and Grafana provisioning files, as docker-compose mounts them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from dashboards.alerting import alert_provisioning
from dashboards.alerts import alerts_dashboard
from dashboards.grafana import DATASOURCE, PROMETHEUS, Dashboard
from dashboards.ocean_map import ocean_map_dashboard
from dashboards.pipeline import pipeline_dashboard
from dashboards.platform import platform_dashboard
from fjsense.credentials import Credentials
from fjsense.registry import registry
from fjsense.settings import Settings


def platform_dashboards(settings: Settings) -> list[Dashboard]:
    """The platform's own dashboards: alerts, pipeline, its metrics, the ocean's one map."""
    kinds = registry(settings.plugins)
    return [alerts_dashboard(), pipeline_dashboard(kinds), platform_dashboard(),
            ocean_map_dashboard(settings, kinds)]


def all_dashboards(settings: Settings) -> list[Dashboard]:
    """Every kind's dashboards, then the platform's."""
    kinds = registry(settings.plugins)
    boards = [board(settings) for kind in kinds.values() for board in kind.load("dashboards")]
    return [*boards, *platform_dashboards(settings)]


def datasource(settings: Settings, local: bool = False) -> dict:
    """The read-only data source. In compose its host is the ``timescaledb`` service and its
    password comes from Grafana's environment, and Prometheus (the ``monitoring`` profile) is
    the platform dashboard's; ``local``: the embedded database on this machine (127.0.0.1,
    ``database.port``), with the reader's password from its secrets (the file is written
    readable by its owner only), and no Prometheus."""
    db = settings.database
    if local:
        url = f"{db.host or '127.0.0.1'}:{db.port}"
        password = Credentials(settings).db("reader").password
    else:
        url = f"{db.host or 'timescaledb'}:{db.port if db.host else 5432}"
        password = "$FJSENSE_DATABASE__READER_PASSWORD"
    return {
        "apiVersion": 1,
        "datasources": [{
            "name": "fjsense", "uid": DATASOURCE["uid"], "type": DATASOURCE["type"],
            "url": url, "user": db.reader_user,
            "secureJsonData": {"password": password},
            "jsonData": {"database": db.name, "sslmode": "disable", "timescaledb": True,
                         "postgresVersion": 1500},
            "isDefault": True, "editable": False,
        }, *([] if local else [{
            "name": "fjsense-prometheus", "uid": PROMETHEUS["uid"], "type": PROMETHEUS["type"],
            "url": "http://prometheus:9090", "access": "proxy", "editable": False,
        }])],
    }


def provider(path: str = "/var/lib/grafana/dashboards/fjsense") -> dict:
    """Grafana's dashboard provider: where it reads the JSON files (compose mounts them there)."""
    return {
        "apiVersion": 1,
        "providers": [{
            "name": "fjsense", "folder": "fjsense", "type": "file", "disableDeletion": True,
            "options": {"path": path},
        }],
    }


def write_provisioning(settings: Settings, out: Path, local: bool = False) -> list[Path]:
    """Write ``dashboards/*.json`` and ``provisioning/{datasources,dashboards,alerting}/
    fjsense.yaml`` (the last: the alert rules as Grafana-managed rules): as compose mounts
    them, or ``local``ly, for a Grafana of one's own reading the embedded database."""
    written = []
    for dashboard in all_dashboards(settings):
        path = out / "dashboards" / f"{dashboard.uid}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dashboard.to_json(), indent=2, ensure_ascii=False))
        written.append(path)
    boards = provider(str((out / "dashboards").resolve())) if local else provider()
    for kind, content in (("datasources", datasource(settings, local)), ("dashboards", boards),
                          ("alerting", alert_provisioning(settings))):
        path = out / "provisioning" / kind / "fjsense.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        path.chmod(0o600 if local and kind == "datasources" else 0o644)  # a password in it
        written.append(path)
    return written
