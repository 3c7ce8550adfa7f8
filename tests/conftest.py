"""Real servers for the tests: Mosquitto, Tansu and PostgreSQL on free ports.

Mosquitto and PostgreSQL are started once per session (through the same code as `fjsense up`);
Tansu keeps topics in memory and starts in milliseconds, so each test gets a fresh one, and a
fresh database, and nothing leaks between tests.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fjsense.settings import Settings
from fjsense.stack import LocalStack
from fjsense.stack.servers import Tansu
from fjsense.stack.service import free_port


@pytest.fixture(scope="session")
def stack_home() -> Iterator[Path]:
    # not pytest's tmp_path: PostgreSQL runs as `postgres` when we are root and must reach it
    home = Path(tempfile.mkdtemp(prefix="fjsense-test-"))
    home.chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def base_settings(stack_home: Path) -> Settings:
    return Settings(
        mqtt={"port": free_port()},
        kafka={"port": free_port(), "partitions": 4},
        database={"port": free_port()},
        stack={"home": stack_home},
    )


@pytest.fixture(scope="session")
def servers(base_settings: Settings) -> Iterator[LocalStack]:
    """Mosquitto and PostgreSQL, up for the session through the code of `fjsense up`."""
    stack = LocalStack(base_settings)
    stack.up()
    stack.tansu.stop()  # each test starts its own Tansu
    yield stack
    stack.down()


@pytest.fixture
def settings(servers: LocalStack, base_settings: Settings, stack_home: Path) -> Iterator[Settings]:
    """Per test: a fresh Tansu on a free port and a fresh database on the session's server."""
    tansu_home = stack_home / f"tansu-{uuid.uuid4().hex[:8]}"
    tansu = Tansu(tansu_home, free_port())
    tansu.start()
    dbname = f"t_{uuid.uuid4().hex[:12]}"
    settings = base_settings.model_copy(
        update={
            "kafka": base_settings.kafka.model_copy(update={"port": tansu.port}),
            "database": base_settings.database.model_copy(update={"name": dbname}),
        }
    )
    yield settings
    tansu.stop()
    admin = servers.creds.dsn("admin", dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
