"""Child processes get their parent's settings, whatever the parent changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.processes import settings_env
from fjsense.settings import Settings


def test_child_sees_every_changed_setting(tmp_path: Path):
    parent = Settings(pue={"target": 1.28, "idle_seconds": 90}, kafka={"port": 23456},
                      database={"name": "x1", "reader_password": "r3ad"},
                      stack={"home": tmp_path}, alerts={"webhook_url": "http://127.0.0.1:9/a"})
    out = subprocess.run([sys.executable, "-m", "app.cli", "config", "show"],
                         env=settings_env(parent), capture_output=True, text=True, check=True)
    child = json.loads(out.stdout)
    assert (child["pue"]["target"], child["pue"]["idle_seconds"]) == (1.28, 90)
    assert (child["kafka"]["port"], child["database"]["name"]) == (23456, "x1")
    assert child["stack"]["home"] == str(tmp_path.resolve())
    assert child["alerts"]["webhook_url"] == "http://127.0.0.1:9/a"
    assert settings_env(parent)["FJSENSE_DATABASE__READER_PASSWORD"] == "r3ad"
