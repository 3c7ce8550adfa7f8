"""The `fjsense` command as a user types it: config, the local stack, credentials, catalog."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from fjsense.settings import Settings
from fjsense.stack import LocalStack
from fjsense.stack.service import free_port
from tests.paths import ROOT


def fjsense(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FJSENSE_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_config_show_masks_secrets():
    out = fjsense("config", "show", env={"FJSENSE_DATABASE__ADMIN_PASSWORD": "s3cr3t-value",
                                         "FJSENSE_PUE__TARGET": "1.3"})
    assert out.returncode == 0, out.stderr
    config = json.loads(out.stdout)
    assert config["database"]["admin_password"] == "**********"
    assert config["pue"]["target"] == 1.3
    assert "s3cr3t-value" not in out.stdout


@pytest.mark.parametrize("env, words", [
    ({"FJSENSE_PUE__TARGET": "abc"}, "pue.target"),
    ({"FJSENSE_PUE__TARGET": "0.9"}, "greater than 1"),
    ({"FJSENSE_MQTT__QOS": "0"}, "mqtt.qos: Input should be greater than or equal to 1"),
    ({"FJSENSE_NOPE": "1"}, "no such setting: FJSENSE_NOPE"),
    ({"FJSENSE_PUE__TARGTE": "1.2"}, "no such setting: FJSENSE_PUE__TARGTE"),
])
def test_bad_config_is_a_clear_error_not_a_crash(env: dict[str, str], words: str):
    out = fjsense("config", "show", env=env)
    assert out.returncode == 1
    assert out.stderr.startswith("error: bad configuration") and words in out.stderr
    assert "Traceback" not in out.stderr


def test_config_file_is_read(tmp_path: Path):
    path = tmp_path / "fjsense.yaml"
    path.write_text("pue:\n  target: 1.25\nkafka:\n  partitions: 2\n")
    config = json.loads(fjsense("config", "show", env={"FJSENSE_CONFIG": str(path)}).stdout)
    assert (config["pue"]["target"], config["kafka"]["partitions"]) == (1.25, 2)


def test_external_servers_start_nothing_locally(tmp_path: Path):
    settings = Settings(mqtt={"host": "mqtt.example"}, kafka={"bootstrap": "kafka:9092"},
                        database={"host": "db.example"}, stack={"home": tmp_path})
    stack = LocalStack(settings)
    assert stack.local_services() == []
    assert [s.external for s in stack.status()] == [True, True, True]


def test_catalog_lists_fujian_sites_as_json():
    sites = json.loads(fjsense("catalog", "--json").stdout)["sites"]
    assert {"changle-dc1", "anxi-dc1"} <= {s["id"] for s in sites}
    cells = {d["id"]: d for s in sites if s["kind"] == "cell" for d in s["devices"]}
    assert len(cells) == 771 and cells["fz-pingtan-002-c3"]["district"] == "pingtan"
    assert {d["district"] for d in cells.values()} == {
        "gulou", "taijiang", "cangshan", "jinan", "mawei", "changle", "fuqing", "minhou",
        "lianjiang", "luoyuan", "minqing", "yongtai", "pingtan"}  # Fuzhou's 13


def test_local_stack_lifecycle_through_the_cli():
    # a home as deep as a checkout's under a long path with spaces: PostgreSQL's socket path
    # would pass its 107-byte limit there (make demo failed so)
    top = Path(tempfile.mkdtemp(prefix="fjsense-cli-"))
    home = top / ("a stack home with spaces " + "y" * 90)
    home.mkdir()
    for folder in (top, home):
        folder.chmod(0o755)
    assert len(str(home / "postgres" / ".s.PGSQL.15432")) > 107
    env = {"FJSENSE_STACK__HOME": str(home), "FJSENSE_MQTT__PORT": str(free_port()),
           "FJSENSE_KAFKA__PORT": str(free_port()), "FJSENSE_DATABASE__PORT": str(free_port())}
    try:
        up = fjsense("up", env=env)
        assert up.returncode == 0, up.stderr
        pids = {p.name: (home / "run" / p.name).read_text() for p in (home / "run").iterdir()}
        assert set(pids) == {"mosquitto.pid", "tansu.pid", "postgres.pid"}
        assert ("migrations applied: 0001_pipeline, 0002_alerts, 0003_dead_letter_replay, "
                "0004_aggregate_refresh, 0005_device_clock, 0006_alert_annotations, "
                "0007_broadcast, "
                "power/0001_tables, power/0002_pue_hourly") in " ".join(up.stderr.split())
        steps = fjsense("db", "status", env=env).stdout
        rows = [[w for w in line.split() if w != "│"] for line in steps.splitlines()]
        assert [r[:2] for r in rows if r and r[0].startswith("power/")] == [
            ["power/0001_tables", "applied"], ["power/0002_pue_hourly", "applied"]], steps
        again = fjsense("up", env=env)
        assert again.returncode == 0 and "migrations applied" not in again.stderr
        assert {p.name: p.read_text() for p in (home / "run").iterdir()} == pids
        status = fjsense("status", env=env).stdout
        assert status.count(" up ") == 3, status

        login = json.loads(fjsense("credentials", "anxi-dc1-m02", env=env).stdout)
        assert login["username"] == "anxi-dc1-m02" and len(login["password"]) >= 20
        connected = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.on_connect = lambda *a: connected.set() if not a[3].is_failure else None
        client.username_pw_set(login["username"], login["password"])
        client.connect("127.0.0.1", int(env["FJSENSE_MQTT__PORT"]))
        client.loop_start()
        assert connected.wait(5)
        client.disconnect()
        client.loop_stop()
        unknown = fjsense("credentials", "nobody-m99", env=env)
        assert unknown.returncode == 1 and "unknown device" in unknown.stderr
    finally:
        down = fjsense("down", env=env)
    assert "stopped: postgres, tansu, mosquitto" in down.stderr
    assert list((home / "run").iterdir()) == []
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert "nothing was running" in fjsense("down", env=env).stderr


def long_folder(tmp_path: Path) -> Path:
    """A folder whose path is over 120 characters, with spaces: nothing printed may depend on
    the length of the checkout's path (rich wrapped piped output at 80 columns)."""
    folder = tmp_path / ("a folder with spaces " * 6)
    folder.mkdir()
    assert len(str(folder)) > 120
    return folder


def test_alerts_check_explains_a_good_file_and_refuses_a_bad_one(tmp_path: Path):
    shipped = long_folder(tmp_path) / "alert rules.yaml"
    shipped.write_bytes((ROOT / "kinds" / "power" / "rules.yaml").read_bytes())
    merged = fjsense("alerts", "check")  # every kind's shipped rules
    assert merged.returncode == 0, merged.stderr
    assert merged.stdout.splitlines()[0] == (
        "the platform's and the kinds' shipped rules: 31 rules, 2 routes, all valid; "
        "255 template renderings with sample alerts")
    # an operator's file naming a shipped rule replaces it, in its place
    out = fjsense("alerts", "check", str(shipped))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == (f"{shipped}: 31 rules, 2 routes, all valid; 255 template renderings "
                        "with sample alerts")
    assert lines[1].startswith("device-clock-skew: warning when offset_s outside [-120, 120] "
                               "on fj.device_clock, per device, for 10m")  # the platform's
    assert lines[3].startswith("pue-above-target: warning when pue_rolling > the site's "
                               "pue_target (else 1.35), clear past 1.3 on fj.derived.pue")
    # the shipped routes: the coast's warnings also to the broadcast points (the file has none)
    assert lines[-2].startswith("route coast: broadcast=coast → log, mqtt, broadcast (zh), ")
    assert lines[-1].startswith("route default: all → log, mqtt, grouped by")
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - {name: x, source: fj.raw.power, metric: watts, above: 1}\n")
    out = fjsense("alerts", "check", str(bad))
    assert out.returncode == 1
    assert f"{bad}:2: rules[0].metric: fj.raw.power records have no field 'watts'" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_yaml_error_names_the_line_where_the_broken_construct_begins(tmp_path: Path):
    """An unclosed ``[`` on a rule file's last line: PyYAML finds it past the end of the file;
    the error names the line that opened it, and where parsing failed."""
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - name: x\n    source: fj.raw.power\n    metric: kw\n"
                   "    above: 1\n    labels: {team: [ops, dc\n")
    out = fjsense("alerts", "check", str(bad))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        f"error: {bad}:6: not valid YAML: did not find expected ',' or ']' (while parsing a "
        "flow sequence at line 6, column 20; parsing failed at the end of the file)")
    middle = tmp_path / "middle.yaml"
    middle.write_text("rules:\n  - name: 'x\n    source: fj.raw.power\n")
    out = fjsense("alerts", "check", str(middle))
    assert out.stderr.strip().startswith(f"error: {middle}:2: not valid YAML: ")
    assert "(while scanning a quoted scalar at line 2, column 11; parsing failed at" in out.stderr


def test_every_command_explains_itself():
    """``--help`` of every command and sub-command formats (a bare % in a help text did not)."""
    from app.cli import build_parser

    def walk(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in dict.fromkeys(action.choices.values()):
                    yield from walk(sub)

    helps = [p.format_help() for p in walk(build_parser())]
    assert len(helps) > 30 and all(h.startswith("usage: fjsense") for h in helps)
    assert any("the range's 80%" in h for h in helps)


def test_probabilities_outside_0_to_1_are_refused():
    out = fjsense("simulate", "power", "--dropout", "1.5", "--minutes", "1")
    assert out.returncode == 2
    assert "--dropout: 1.5 is not a probability between 0 and 1" in out.stderr
    assert fjsense("simulate", "buoy", "--spikes", "-0.1").returncode == 2


def test_generated_secrets_say_where_they_are(tmp_path: Path):
    config = json.loads(fjsense("config", "show", env={"FJSENSE_STACK__HOME": str(tmp_path)}
                                ).stdout)
    assert config["database"]["reader_password"] == (
        f"(unset: generated into {tmp_path / 'secrets.json'})")
    assert config["alerts"]["webhook_secret"] is None  # not generated: simply unset


def test_a_misspelt_catalog_field_is_named(tmp_path: Path):
    mine = tmp_path / "stations.yaml"
    mine.write_text("sites:\n  - id: test-dc1\n    name: Test\n    kind: power\n"
                    "    region: fuzhou\n    district: changle\n    lat: 25.9\n    lon: 119.5\n"
                    "    it_design_kw: 1000\n    devices:\n"
                    "      - {id: test-dc1-m01, circuit: facility, rated_kww: 3000}\n")
    out = fjsense("catalog", env={"FJSENSE_CATALOG__FILE": str(mine)})
    assert out.returncode == 1
    assert out.stderr.strip() == (f"error: {mine}:11: sites[0].devices[0].rated_kww: unknown "
                                  "field 'rated_kww'; did you mean 'rated_kw'?")


def test_alert_history_options_explain_themselves():
    out = fjsense("alerts", "history", "--help")
    assert "how far back" in out.stdout and "transitions shown at most" in out.stdout


def test_local_dashboards_read_the_embedded_database(tmp_path: Path):
    out = fjsense("dashboards", "build", "--local", "--out", str(tmp_path / "g"),
                  env={"FJSENSE_STACK__HOME": str(tmp_path / "home")})
    assert out.returncode == 0, out.stderr
    path = tmp_path / "g" / "provisioning" / "datasources" / "fjsense.yaml"
    import yaml

    source = yaml.safe_load(path.read_text())["datasources"][0]
    assert (source["url"], source["user"]) == ("127.0.0.1:15432", "fjsense_reader")
    secrets = json.loads((tmp_path / "home" / "secrets.json").read_text())
    assert source["secureJsonData"]["password"] == secrets["db.reader"]
    assert path.stat().st_mode & 0o777 == 0o600
    boards = yaml.safe_load((path.parent.parent / "dashboards" / "fjsense.yaml").read_text())
    assert boards["providers"][0]["options"]["path"] == str(tmp_path / "g" / "dashboards")
    compose = fjsense("dashboards", "build", "--out", str(tmp_path / "c"))
    source = yaml.safe_load((tmp_path / "c" / "provisioning" / "datasources" / "fjsense.yaml"
                             ).read_text())["datasources"][0]
    assert source["url"] == "timescaledb:5432" and compose.returncode == 0


def test_db_shell_is_psql_as_the_role(settings: Settings):
    from app.processes import settings_env
    from sinks.migrate import bootstrap

    bootstrap(settings)  # the database and its roles

    out = subprocess.run([sys.executable, "-m", "app.cli", "db", "shell",
                          "--role", "reader", "--", "-Atc", "SELECT current_user"],
                         env=settings_env(settings), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "fjsense_reader"


def test_a_replay_file_with_no_readable_row_exits_1_with_one_message(tmp_path: Path):
    """A CO-OPS export whose times no reader takes publishes nothing and says so once: the
    count and the first five problems, not a line each."""
    path = tmp_path / "CO-OPS 8761724.csv"
    path.write_text("t,v,s\n" + "".join(f"09/{d:02d}/2005 01:00,1.0,0.1\n" for d in range(1, 30)))
    out = fjsense("replay", str(path), "--as", "xiamen-tide")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: NOAA CO-OPS water level "
                                                   "CSV (m, GMT), but no row could be read: "
                                                   "29 lines not read: line 2: ")
    assert lines[0].endswith("; and 24 more")


def test_run_scales_workers_and_sinks_each_on_a_health_port_of_its_own(tmp_path: Path):
    from app.supervise import Supervisor
    from fjsense.stack import isolated_settings

    settings = isolated_settings(tmp_path)
    supervisor = Supervisor(settings, tmp_path, components=("worker", "sink", "notify"),
                            instances={"worker": 3, "sink": 2})
    children = supervisor.children
    assert list(children) == ["worker", "worker-2", "worker-3", "sink", "sink-2", "notify"]
    assert children["worker"].command == "worker" and children["worker"].port is None
    ports = {children[n].port for n in ("worker-2", "worker-3", "sink-2")}
    assert len(ports) == 3 and settings.health.worker_port not in ports
    assert children["worker-3"].command == f"worker --health-port {children['worker-3'].port}"
    out = fjsense("run", "--workers", "0")
    assert out.returncode == 2 and "--workers: 0 is not 1 or more" in out.stderr


def test_the_catalog_lists_the_broadcast_points_and_simulate_refuses_an_unknown_one():
    listed = json.loads(fjsense("catalog", "--json").stdout)["broadcast_points"]
    assert len(listed) == 11
    assert listed[-2] == {"id": "xiamen-gaoqi-port", "name": "Gaoqi fishing port (高崎渔港)",
                          "type": "fishing_port", "district": "huli", "lat": 24.541,
                          "lon": 118.113}
    assert {p["district"] for p in listed[:9]} == {"lianjiang", "luoyuan", "changle", "pingtan",
                                                   "fuqing"}  # the Fuzhou coast
    out = fjsense("simulate", "broadcast", "--points", "nowhere")
    assert out.returncode == 1
    assert out.stderr.startswith("error: no broadcast point 'nowhere'; points: "
                                 "lianjiang-huangqi-port, lianjiang-dinghai-raft")
