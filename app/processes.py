"""The platform's components as child processes, as docker-compose runs them (demo, tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from fjsense.health import probe
from fjsense.registry import SensorKind, components
from fjsense.settings import Settings

PLATFORM = ("bridge", "worker", "sink", "notify")  # the platform's own, whatever the kinds


def all_components(kinds: dict[str, SensorKind]) -> tuple[str, ...]:
    """What ``fjsense run`` supervises and ``fjsense health`` asks: the platform's components,
    then the kinds' own (a gateway …)."""
    return (*PLATFORM, *components(kinds))


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Our environment plus every setting that differs from its default, as FJSENSE_ vars,
    so a child process sees exactly the settings its parent has."""
    env = dict(os.environ)
    for section, fields in settings.model_dump(exclude_defaults=True).items():
        items = fields.items() if isinstance(fields, dict) else [("", fields)]
        for name, value in items:
            key = f"FJSENSE_{section}__{name}" if name else f"FJSENSE_{section}"
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, list | tuple | dict):
                value = json.dumps(value)
            env[key.upper()] = "" if value is None else str(value)
    env["FJSENSE_STACK__HOME"] = str(settings.home)  # absolute: children may start elsewhere
    env.update(extra)
    return env


class Components:
    """`fjsense bridge|worker|sink` as child processes, logs under ``logs``."""

    def __init__(self, settings: Settings, logs: Path, verbose: bool = True, **env: str) -> None:
        self.settings = settings
        self.env = settings_env(settings, **env)
        self.verbose = verbose
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, command: str | None = None) -> None:
        """Start ``fjsense COMMAND`` (default: ``name``) as component ``name``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "app.cli", *(["-v"] if self.verbose else []),
                 *(command or name).split()],
                env=self.env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def health(self, name: str, port: int | None = None) -> dict | None:
        """What component ``name`` says of itself (None while nothing answers)."""
        component = name.split("-")[0]  # bridge-2 is a bridge
        return probe(self.settings.health.host,
                     self.settings.health_port(component) if port is None else port)

    def wait_ready(self, name: str, timeout: float = 60, port: int | None = None) -> None:
        """Until the component's health endpoint says ready (a bridge: subscribed, so that
        the broker queues readings in its session; a worker: partitions assigned)."""
        def ready() -> bool:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"{name} exited ({proc.returncode}): "
                                     f"{self.log(name)[-2000:]}")
            report = self.health(name, port)
            return report is not None and report["state"] == "ready"

        wait_for(ready, timeout, f"{name} to be ready",
                 lambda: (self.health(name, port), self.log(name)[-2000:]))

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self, name: str) -> int:
        """SIGTERM, as `docker stop` would; returns the exit code."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        return proc.wait(30)

    def stop_all(self) -> dict[str, int]:
        codes = {}
        for name, proc in self.procs.items():
            proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        self.procs.clear()
        return codes

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str,
    state: Callable[[], object] = lambda: "",
) -> None:
    """Poll ``condition``; on timeout, fail saying what ``state`` was last."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {state()}")
