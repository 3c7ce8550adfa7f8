"""`fjsense run`: bridge, worker, sink, notifier and the kinds' own components (a gateway …)
as one supervised group on one machine.

Each component is its own child process, as in production. One that exits (a crash, an OOM
kill, a bug) is started again after a pause that doubles from ``supervise.min_restart_seconds``
to ``supervise.max_restart_seconds`` and falls back once it has run ``stable_seconds``. Every
exit and restart is logged and counted; the supervisor's own health endpoint reports each
component's state, pid and restarts, and is ready while every component says it is.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.processes import Components, all_components
from fjsense.health import Health, HealthServer
from fjsense.registry import registry
from fjsense.settings import Settings
from fjsense.stack.service import free_port

log = logging.getLogger("fjsense.run")

CHECK_SECONDS = 0.5


@dataclass
class Child:
    """What the supervisor knows of one component."""

    name: str
    delay: float  # the pause before the next restart
    command: str  # what it runs: ``fjsense COMMAND``
    port: int | None = None  # its health port, when not its setting's (a second instance)
    started: float = 0.0
    restarts: int = 0
    last_exit: int | None = None
    restart_at: float | None = None  # set while it waits to be started again
    report: dict[str, Any] | None = None  # its last health report


class Supervisor:
    """Starts the components, restarts the ones that exit, stops them all on ``stop``."""

    def __init__(self, settings: Settings, logs: Path,
                 components: tuple[str, ...] | None = None,
                 instances: dict[str, int] | None = None) -> None:
        self.settings = settings.supervise
        self.parts = Components(settings, logs, verbose=True)
        names = all_components(registry(settings.plugins)) if components is None else components
        self.children = {child.name: child for name in names
                         for child in self._instances(name, (instances or {}).get(name, 1))}
        self.health = Health("run")
        self.health.probe("components", self.report)

    def _instances(self, component: str, count: int) -> list[Child]:
        """The first instance runs on its setting's health port; the others (``worker-2`` …)
        on free ports of their own, kept across their restarts."""
        children = [Child(component, self.settings.min_restart_seconds, component)]
        for n in range(2, count + 1):
            port = free_port()
            children.append(Child(f"{component}-{n}", self.settings.min_restart_seconds,
                                  f"{component} --health-port {port}", port))
        return children

    def report(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, child in self.children.items():
            proc = self.parts.procs.get(name)
            state = "restarting" if child.restart_at is not None else (
                (child.report or {}).get("state", "down"))
            out[name] = {"state": state, "pid": proc.pid if proc else None,
                         "restarts": child.restarts, "last_exit": child.last_exit,
                         **({"health_port": child.port} if child.port else {})}
        return out

    def run(self, stop: threading.Event) -> None:
        for child in self.children.values():
            self._start(child)
        try:
            while not stop.wait(CHECK_SECONDS):
                self.check(time.monotonic(), stop)
        finally:
            codes = self.parts.stop_all()
            log.warning("stopped %s", ", ".join(f"{n} ({c})" for n, c in codes.items()))

    def _start(self, child: Child) -> None:
        self.parts.start(child.name, child.command)
        child.started, child.restart_at, child.report = time.monotonic(), None, None

    def check(self, now: float, stop: threading.Event) -> None:
        """Restart what exited once its pause is over; read every component's health."""
        for child in self.children.values():
            if stop.is_set():
                return
            if child.restart_at is not None:
                if now >= child.restart_at:
                    log.warning("starting %s again (restart %d)", child.name, child.restarts)
                    self._start(child)
                continue
            proc = self.parts.procs[child.name]
            code = proc.poll()
            if code is None:
                if now - child.started >= self.settings.stable_seconds:
                    child.delay = self.settings.min_restart_seconds
                child.report = self.parts.health(child.name, port=child.port)
                continue
            self.parts.procs.pop(child.name)
            child.restarts += 1
            child.last_exit = code
            child.restart_at = now + child.delay
            log.error("%s exited with code %s; restart %d in %.1fs (log: %s)", child.name, code,
                      child.restarts, child.delay, self.parts.logs / f"{child.name}.log")
            child.delay = min(child.delay * 2, self.settings.max_restart_seconds)
        waiting = [c.name for c in self.children.values()
                   if (c.report or {}).get("state") != "ready"]
        if waiting:
            self.health.waiting(", ".join(waiting))
        else:
            self.health.ready()


def run_supervised(settings: Settings, instances: dict[str, int] | None = None) -> None:
    """`fjsense run` in the foreground until SIGTERM/SIGINT; ``instances``: how many of a
    component share its work (``{"worker": 3}``: one consumer group, its partitions split)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    supervisor = Supervisor(settings, settings.home / "logs", instances=instances)
    server = HealthServer(supervisor.health, settings.health.host, settings.health.run_port)
    try:
        supervisor.run(stop)
    finally:
        server.close()
