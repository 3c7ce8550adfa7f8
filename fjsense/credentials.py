"""Who connects with which password: database roles, MQTT service users and devices."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg.conninfo

from fjsense.secrets import SecretStore
from fjsense.settings import Settings


@dataclass(frozen=True)
class Login:
    """A user name and its password: what a client needs, never printed."""

    username: str
    password: str


class Credentials:
    """Resolves every login of the platform from settings, falling back to generated secrets."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = SecretStore(settings.home)

    def db(self, role: str) -> Login:
        """``role`` is ``admin`` (migrations), ``writer`` (sink) or ``reader`` (dashboards)."""
        db = self.settings.database
        user = getattr(db, f"{role}_user")
        return Login(user, self.store.get(f"db.{role}", getattr(db, f"{role}_password")))

    def dsn(self, role: str, dbname: str | None = None) -> str:
        """A libpq connection string for ``role``, so that no caller assembles one with a
        password in it."""
        db = self.settings.database
        login = self.db(role)
        return psycopg.conninfo.make_conninfo(
            host=db.host or "127.0.0.1",
            port=db.port,
            dbname=dbname or db.name,
            user=login.username,
            password=login.password,
            connect_timeout=10,
        )

    def mqtt_service(self, service: str) -> Login:
        """``service`` is ``bridge`` (reads every device topic), ``notifier`` (writes alerts)
        or a kind's component (its own section's login, e.g. the HJ 212 gateway's)."""
        if service in ("bridge", "notifier"):
            mqtt = self.settings.mqtt
            return Login(getattr(mqtt, f"{service}_username"), self.store.get(
                f"mqtt.{service}", getattr(mqtt, f"{service}_password")))
        section = self.settings.section(service)
        return Login(getattr(section, "username"),  # noqa: B009
                     self.store.get(f"mqtt.{service}", getattr(section, "password")))  # noqa: B009

    def device(self, device_id: str) -> Login:
        """A device's own MQTT login (its id), generated once: each device may write only its
        own topics."""
        return Login(device_id, self.store.get(f"device.{device_id}"))
