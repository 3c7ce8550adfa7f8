"""Dashboards as code: macro expansion, build output, publishing through Grafana's HTTP API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from dashboards.build import all_dashboards, write_provisioning
from dashboards.macros import expand
from dashboards.publish import publish
from fjsense.settings import Settings

T0, T1 = datetime(2026, 11, 22, 0, 0, tzinfo=UTC), datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def test_macros_expand_as_grafana_does():
    sql = ("SELECT $__timeGroupAlias(ts, $__interval), avg(kw) FROM t "
           "WHERE $__timeFilter(ts) AND site IN ($site) AND $__unixEpochFilter(epoch) "
           "AND x > $__timeFrom() GROUP BY $__timeGroup(ts, '5m')")
    assert expand(sql, T0, T1, "1m", {"site": ["a", "o'b"]}) == (
        'SELECT floor(extract(epoch from ts)/60)*60 AS "time", avg(kw) FROM t '
        "WHERE ts BETWEEN '2026-11-22T00:00:00+00:00' AND '2026-11-22T06:00:00+00:00' "
        "AND site IN ('a','o''b') AND epoch >= 1795305600 AND epoch <= 1795327200 "
        "AND x > '2026-11-22T00:00:00+00:00' GROUP BY floor(extract(epoch from ts)/300)*300")
    with pytest.raises(ValueError, match="unexpanded"):
        expand("SELECT $__timeEpoch(ts)", T0, T1)


def test_build_writes_dashboards_and_provisioning(tmp_path: Path):
    settings = Settings(pue={"target": 1.3})
    written = write_provisioning(settings, tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "dashboards/fjsense-alerts.json", "dashboards/fjsense-cells.json",
        "dashboards/fjsense-datacenter.json",
        "dashboards/fjsense-ocean-map.json", "dashboards/fjsense-ocean.json",
        "dashboards/fjsense-pipeline.json",
        "dashboards/fjsense-platform.json",
        "dashboards/fjsense-pollution.json", "dashboards/fjsense-tide.json", "provisioning/alerting/fjsense.yaml",
        "provisioning/dashboards/fjsense.yaml", "provisioning/datasources/fjsense.yaml"]
    board = json.loads((tmp_path / "dashboards/fjsense-datacenter.json").read_text())
    pue_panel = next(p for p in board["panels"] if p["title"].startswith("PUE (15 min rolling)"))
    steps = pue_panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1] == {"color": "red", "value": 1.3}  # the target line follows the config
    source = yaml.safe_load((tmp_path / "provisioning/datasources/fjsense.yaml").read_text())
    prometheus = source["datasources"][1]  # the platform dashboard's (compose: monitoring)
    assert (prometheus["type"], prometheus["url"]) == ("prometheus", "http://prometheus:9090")
    platform = json.loads((tmp_path / "dashboards/fjsense-platform.json").read_text())
    assert {p["datasource"]["uid"] for p in platform["panels"]} == {prometheus["uid"]}
    uids = {p["datasource"]["uid"] for p in board["panels"]}
    assert uids == {source["datasources"][0]["uid"]}
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])


class GrafanaApi(BaseHTTPRequestHandler):
    """Grafana's HTTP API as far as publishing uses it (Grafana itself cannot run here)."""

    folders: set[str] = set()
    dashboards: dict[str, dict] = {}
    calls: list[tuple[str, str]] = []

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        GrafanaApi.calls.append(("GET", self.path))
        uid = self.path.rsplit("/", 1)[-1]
        if self.headers["Authorization"] != "Bearer tok":
            self._reply(401, {"message": "unauthorized"})
        elif uid in self.folders:
            self._reply(200, {"uid": uid})
        else:
            self._reply(404, {"message": "folder not found"})

    def do_POST(self) -> None:
        GrafanaApi.calls.append(("POST", self.path))
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/api/folders":
            self.folders.add(body["uid"])
            self._reply(200, {"uid": body["uid"]})
        else:
            uid = body["dashboard"]["uid"]
            assert body["overwrite"] is True and body["folderUid"] == "fjsense"
            self.dashboards[uid] = body["dashboard"]
            self._reply(200, {"status": "success", "uid": uid})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def grafana() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), GrafanaApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_publish_is_idempotent_by_uid(grafana: str):
    settings = Settings()
    first = publish(grafana, "tok", settings)
    second = publish(grafana, "tok", settings)
    assert first == second == [("fjsense-datacenter", "success"), ("fjsense-ocean", "success"),
                               ("fjsense-tide", "success"), ("fjsense-cells", "success"),
                               ("fjsense-pollution", "success"),
                               ("fjsense-alerts", "success"),
                               ("fjsense-pipeline", "success"),
                               ("fjsense-platform", "success"),
                               ("fjsense-ocean-map", "success")]
    assert [c for c in GrafanaApi.calls if c == ("POST", "/api/folders")] == [("POST", "/api/folders")]
    assert set(GrafanaApi.dashboards) == {d.uid for d in all_dashboards(settings)}


def test_alert_rules_export_as_grafana_managed_rules(tmp_path: Path):
    write_provisioning(Settings(pue={"target": 1.4}), tmp_path)
    exported = yaml.safe_load((tmp_path / "provisioning/alerting/fjsense.yaml").read_text())
    clock, silent, rule, availability = exported["groups"][0]["rules"]
    assert "FROM broadcast_status" in silent["data"][0]["model"]["rawSql"]
    assert silent["data"][1]["model"]["conditions"] == [
        {"evaluator": {"type": "gt", "params": [600.0]}}]
    assert availability["title"] == "cell-availability-below-target"
    assert (clock["title"], clock["for"]) == ("device-clock-skew", "600s")
    assert "FROM device_clock" in clock["data"][0]["model"]["rawSql"]
    assert clock["data"][1]["model"]["conditions"] == [
        {"evaluator": {"type": "outside_range", "params": [-120.0, 120.0]}}]
    assert "FROM cell_kpis" in availability["data"][0]["model"]["rawSql"]
    assert (rule["title"], rule["for"], rule["labels"]["severity"]) == (
        "pue-above-target", "300s", "warning")
    query, threshold = rule["data"]
    assert "FROM pue_windows" in query["model"]["rawSql"]
    assert threshold["model"]["conditions"] == [{"evaluator": {"type": "gt", "params": [1.4]}}]
    board = json.loads((tmp_path / "dashboards/fjsense-datacenter.json").read_text())
    assert [a["name"] for a in board["annotations"]["list"]] == ["alert transitions"]
