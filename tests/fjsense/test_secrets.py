"""Generated secrets: created once, kept private, and overridden by the environment."""

from __future__ import annotations

import stat
from pathlib import Path

from pydantic import SecretStr

from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.mqtt_auth import acl_file
from fjsense.secrets import SecretStore
from fjsense.settings import Settings


def test_generated_once_stable_and_private(tmp_path: Path):
    store = SecretStore(tmp_path)
    first = store.get("device.x")
    assert store.get("device.x") == first and len(first) >= 24
    assert SecretStore(tmp_path).get("device.x") == first
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
    assert store.get("device.x", SecretStr("from-env")) == "from-env"


def test_settings_password_wins_over_generated(tmp_path: Path):
    creds = Credentials(Settings(stack={"home": tmp_path},
                                 database={"writer_password": "given"}))
    assert creds.db("writer").password == "given"
    assert creds.db("reader").password != "given"
    assert "password=given" in creds.dsn("writer")


def test_acl_lets_each_device_write_only_its_own_topic(tmp_path: Path):
    acl = acl_file(load_catalog(), Credentials(Settings(stack={"home": tmp_path})), "fj/alerts")
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in acl.strip().split("\n\n")}
    assert blocks["user changle-dc1-m01"] == ["topic write fj/power/changle-dc1/changle-dc1-m01"]
    assert blocks["user fjsense-bridge"] == [
        "topic read fj/power/+/+", "topic read fj/buoy/+/+", "topic read fj/tide/+/+",
        "topic read fj/cell/+/+", "topic read fj/mr/+/+", "topic read fj/pollution/+/+"]
    assert blocks["user fjsense-hj212"] == ["topic write fj/pollution/+/+"]
    # a cell sends its KPIs and its measurement reports with one login
    assert blocks["user fz-gulou-001-c2"] == ["topic write fj/cell/fz-gulou-001/fz-gulou-001-c2",
                                             "topic write fj/mr/fz-gulou-001/fz-gulou-001-c2"]
    assert blocks["user fjsense-notifier"] == ["topic readwrite fj/alerts/#",
                                               "topic readwrite fj/broadcast/#"]
    # a broadcast point hears its own broadcasts and acknowledges them, nothing else
    assert blocks["user xiamen-gaoqi-port"] == ["topic read fj/broadcast/xiamen-gaoqi-port",
                                               "topic write fj/broadcast/xiamen-gaoqi-port/ack"]
