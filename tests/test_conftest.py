"""The harness's own guard: a component left running by a module is found (and then stopped
by ``no_component_outlives_its_module``); one that exited is not."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import components_running


def test_a_component_left_running_is_found_and_one_that_exited_is_not():
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                 "-m", "app.cli", "sink"])  # named as a component is
    try:
        assert components_running().get(stand_in.pid, "").endswith("-m app.cli sink ")
        stand_in.kill()
        stat = Path(f"/proc/{stand_in.pid}/stat")
        deadline = time.monotonic() + 10
        while stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":  # exited, not reaped
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert stand_in.pid not in components_running()
    finally:
        stand_in.kill()
        stand_in.wait(10)
