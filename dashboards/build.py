"""`fjsense dashboards build`: dashboards and Grafana provisioning files, as docker-compose mounts them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from dashboards.alerting import alert_provisioning
from dashboards.alerts import alerts_dashboard
from dashboards.grafana import DATASOURCE, Dashboard
from dashboards.pipeline import pipeline_dashboard
from fjsense.kinds import registry
from fjsense.kinds.base import resolve
from fjsense.settings import Settings


def all_dashboards(settings: Settings) -> list[Dashboard]:
    """Every kind's dashboards, then the platform's: alerts and pipeline."""
    kinds = registry(settings.plugins)
    boards = [resolve(ref)(settings) for kind in kinds.values() for ref in kind.dashboards]
    return [*boards, alerts_dashboard(), pipeline_dashboard(kinds)]


def datasource(settings: Settings) -> dict:
    """The read-only data source; its password comes from Grafana's environment."""
    db = settings.database
    return {
        "apiVersion": 1,
        "datasources": [{
            "name": "fjsense", "uid": DATASOURCE["uid"], "type": DATASOURCE["type"],
            "url": f"{db.host or 'timescaledb'}:{db.port if db.host else 5432}",
            "user": db.reader_user,
            "secureJsonData": {"password": "$FJSENSE_DATABASE__READER_PASSWORD"},
            "jsonData": {"database": db.name, "sslmode": "disable", "timescaledb": True,
                         "postgresVersion": 1500},
            "isDefault": True, "editable": False,
        }],
    }


def provider() -> dict:
    return {
        "apiVersion": 1,
        "providers": [{
            "name": "fjsense", "folder": "fjsense", "type": "file", "disableDeletion": True,
            "options": {"path": "/var/lib/grafana/dashboards/fjsense"},
        }],
    }


def write_provisioning(settings: Settings, out: Path) -> list[Path]:
    """Write ``dashboards/*.json`` and ``provisioning/{datasources,dashboards,alerting}/
    fjsense.yaml`` (the last: the alert rules as Grafana-managed rules)."""
    written = []
    for dashboard in all_dashboards(settings):
        path = out / "dashboards" / f"{dashboard.uid}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dashboard.to_json(), indent=2, ensure_ascii=False))
        written.append(path)
    for kind, content in (("datasources", datasource(settings)), ("dashboards", provider()),
                          ("alerting", alert_provisioning(settings))):
        path = out / "provisioning" / kind / "fjsense.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        written.append(path)
    return written
