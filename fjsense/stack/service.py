"""A server run as a child process under the stack home: pid file, log file, health check."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from pathlib import Path


class ServiceError(RuntimeError):
    """A local server could not be prepared, started or checked; the message says how to fix it."""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on ``host``:``port``: a cheap liveness check."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


# Below Linux's ephemeral range (32768-60999): a port the kernel may hand any outgoing
# connection as its source port can be taken between choosing it and the server binding it
# (seen: a sink's health endpoint refused with EADDRINUSE while tests ran two at a time).
PORT_RANGE = (20000, 32768)
PORT_RANGE_ENV = "FJSENSE_PORT_RANGE"  # "LOW-HIGH": parallel test workers each take their own
_handed_out: set[int] = set()


def port_range() -> tuple[int, int]:
    """Where ``free_port`` chooses: ``FJSENSE_PORT_RANGE`` ("LOW-HIGH", HIGH excluded), else
    ``PORT_RANGE``."""
    named = os.environ.get(PORT_RANGE_ENV)
    if not named:
        return PORT_RANGE
    low, _, high = named.partition("-")
    return int(low), int(high)


def free_port() -> int:
    """A port free now and not handed out before by this process, for servers started beside
    others (tests, benchmarks): chosen at random outside the ephemeral range."""
    low, high = port_range()
    for _ in range(1000):
        port = random.randrange(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise ServiceError(f"no free port in {low}-{high - 1} ({PORT_RANGE_ENV})")


class Service(ABC):
    """One local server. ``start`` is idempotent; ``stop`` signals only the pid it recorded."""

    name: str
    stop_signal: int = signal.SIGTERM

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def data_dir(self) -> Path:
        """Where it keeps its data, under the stack home."""
        return self.home / self.name

    @property
    def pid_file(self) -> Path:
        """Where its pid is kept, so that another command can stop it."""
        return self.home / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        """Its log: what ``ServiceError`` quotes when it fails to start."""
        return self.home / "logs" / f"{self.name}.log"

    @abstractmethod
    def command(self) -> list[str]:
        """The foreground command line of the server."""

    def prepare(self) -> None:
        """Write configuration and initialise data before the first start."""

    def run_as(self) -> str | None:
        """The user to run the server as, when it must not run as the current one."""
        return None

    def healthy(self) -> bool:
        """Whether it answers; each server says what answering means."""
        return port_open(self.port)

    def pid(self) -> int | None:
        """The recorded pid, if that process still runs the command we started."""
        try:
            pid = int(self.pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ValueError):
            return None
        if self.command()[0].encode() not in cmdline:
            return None
        return pid

    def start(self, timeout: float = 30.0) -> None:
        """Start it in the background unless it runs already, and wait until it answers;
        ServiceError quotes its log otherwise."""
        if self.pid() is not None and self.healthy():
            return
        if port_open(self.port):
            raise ServiceError(f"{self.name}: port {self.port} is taken by another process")
        for folder in (self.data_dir, self.pid_file.parent, self.log_file.parent):
            folder.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=self.run_as(),
            )
        self._children[proc.pid] = proc
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._children.pop(proc.pid)
                raise ServiceError(f"{self.name} exited ({proc.returncode}):\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.05)
        self.stop()
        raise ServiceError(f"{self.name} not healthy after {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the recorded process; True when one was running."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        os.kill(pid, self.stop_signal)
        child = self._children.pop(pid, None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (child.poll() is not None) if child else not _alive(pid):
                return True
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        if child is not None:
            child.wait()
        return True

    def log_tail(self, lines: int = 15) -> str:
        """The end of its log, for an error message."""
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def _alive(pid: int) -> bool:
    """Whether a process we did not spawn in this interpreter (pid file of `fjsense up`) runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return state != "Z"
