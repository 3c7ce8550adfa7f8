"""Health told by each component itself: a tiny HTTP endpoint with its state, what it waits
for, and its counters (bridge, worker, sink and the `fjsense run` supervisor).

``GET /health`` answers JSON, with status 200 while the component is ready and 503 otherwise,
so that a container healthcheck, `fjsense health`, the demo and the tests all read readiness
from the component rather than from its log. ``GET /metrics`` serves the same counters to
Prometheus (``fjsense/metrics.py``).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STARTING, READY, WAITING, STALLED = "starting", "ready", "waiting", "stalled"


class Health:
    """A component's state, set by the component (any thread) and read by the endpoint."""

    def __init__(self, component: str) -> None:
        self.component = component
        self._lock = threading.Lock()
        self._state = STARTING
        self._waiting_for: str | None = None
        self._since = time.time()
        self._details: dict[str, Any] = {}
        self._probes: dict[str, Callable[[], Any]] = {}
        self._stall_check: Callable[[], str | None] = lambda: None

    def ready(self) -> None:
        """Say the component does its work now (probes and supervisors wait for this)."""
        self._set(READY, None)

    def waiting(self, what: str) -> None:
        """The component cannot work until ``what`` is back (e.g. ``the database``)."""
        self._set(WAITING, what)

    def _set(self, state: str, waiting_for: str | None) -> None:
        with self._lock:
            if (state, waiting_for) != (self._state, self._waiting_for):
                self._state, self._waiting_for, self._since = state, waiting_for, time.time()

    def update(self, **details: Any) -> None:
        """Add details to the report (e.g. partitions): what an operator needs to see why it
        waits."""
        with self._lock:
            self._details.update(details)

    def probe(self, name: str, read: Callable[[], Any]) -> None:
        """A detail computed when the endpoint is asked (e.g. live counters)."""
        self._probes[name] = read

    def watch(self, stalled: Callable[[], str | None]) -> None:
        """A check run when the endpoint is asked: a ready component for which it gives a
        reason is reported ``stalled`` (a worker with lag that takes nothing looks ready to
        itself; only a judgement from outside its loop notices)."""
        self._stall_check = stalled

    def snapshot(self) -> dict[str, Any]:
        """The report as served: state, what it waits for, details and every probe read now."""
        with self._lock:
            report = {"component": self.component, "state": self._state,
                      "waiting_for": self._waiting_for,
                      "for_seconds": round(time.time() - self._since, 1), **self._details}
        report.update((name, read()) for name, read in self._probes.items())
        if report["state"] == READY and (why := self._stall_check()):
            report["state"], report["stalled"] = STALLED, why
        return report


def stall_reason(lag: int, idle_seconds: float, limit_seconds: float) -> str | None:
    """Why a component is stalled, or None: it has records to take and took none for
    ``limit_seconds`` (a caught-up one that hears nothing is idle, not stalled)."""
    if lag > 0 and idle_seconds >= limit_seconds:
        return f"{lag} records to take, none taken for {idle_seconds:.0f} s"
    return None


class HealthServer:
    """Serves one ``Health`` on ``host:port`` from a daemon thread; port 0 serves nothing."""

    def __init__(self, health: Health, host: str, port: int) -> None:
        self.health = health
        self._server: ThreadingHTTPServer | None = None
        if port:
            self._server = ThreadingHTTPServer((host, port), _handler(health))
            self._server.daemon_threads = True
            threading.Thread(target=self._server.serve_forever, name="health",
                             daemon=True).start()

    def close(self) -> None:
        """Stop serving: a component shutting down must free its port for its successor."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler(health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.rstrip("/")
            if path == "/metrics":  # the same counters for Prometheus (fjsense/metrics.py)
                from fjsense.metrics import CONTENT_TYPE, exposition

                self._answer(200, CONTENT_TYPE, exposition(health))
                return
            if path not in ("/health", ""):
                self.send_error(404)
                return
            report = health.snapshot()
            self._answer(200 if report["state"] == READY else 503, "application/json",
                         json.dumps(report, default=str).encode())

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def probe(host: str, port: int, timeout: float = 2.0) -> dict[str, Any] | None:
    """A component's health report, or None when nothing answers on ``host:port``."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=timeout) as answer:
            report: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as exc:  # 503: it answers, but is not ready
        report = json.loads(exc.read())
    except (OSError, ValueError):
        return None
    return report
