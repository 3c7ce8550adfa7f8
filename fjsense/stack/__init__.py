"""The embedded stack: the same servers as production, as child processes under one folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fjsense.catalog import catalog_of
from fjsense.credentials import Credentials
from fjsense.mqtt_auth import acl_file, password_file
from fjsense.settings import PLATFORM_COMPONENTS, Settings, component_sections
from fjsense.stack.servers import Mosquitto, Postgres, Tansu
from fjsense.stack.service import Service, ServiceError, free_port

__all__ = ["LocalStack", "ServiceError", "ServiceStatus", "isolated_settings"]


def isolated_settings(home: Path, **sections: Any) -> Settings:
    """Settings whose servers and health endpoints all take free ports, under ``home``: a
    stack that runs beside any other (tests, benchmarks). A kind's component takes free
    ports for every port of its section (its health endpoint, a listening port)."""
    health = {f"{c}_port": free_port() for c in PLATFORM_COMPONENTS}
    components = {name: {f: free_port() for f in model.model_fields if f.endswith("port")}
                  for name, model in component_sections(sections.get("plugins", ())).items()}
    return Settings(**{"mqtt": {"port": free_port()}, "kafka": {"port": free_port()},
                       "database": {"port": free_port()}, "health": health,
                       "stack": {"home": home}, **components, **sections})


@dataclass(frozen=True)
class ServiceStatus:
    """One server as ``fjsense status`` shows it: where, its pid, whether it answers."""

    name: str
    where: str
    pid: int | None
    healthy: bool
    external: bool


class LocalStack:
    """Starts, stops and reports the servers that the settings do not point elsewhere."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.creds = Credentials(settings)
        home = settings.home
        bridge = self.creds.mqtt_service("bridge")
        admin = self.creds.db("admin")
        self.mosquitto = Mosquitto(
            home, settings.mqtt.port, "", "", (bridge.username, bridge.password)
        )
        self.tansu = Tansu(home, settings.kafka.port)
        self.postgres = Postgres(
            home, settings.database.port, (admin.username, admin.password),
            settings.stack.postgres_bin_dir,
        )

    def local_services(self) -> list[Service]:
        """The servers the settings do not point elsewhere: only these are started and stopped
        here."""
        chosen: list[Service] = []
        if not self.settings.mqtt.external:
            chosen.append(self.mosquitto)
        if not self.settings.kafka.external:
            chosen.append(self.tansu)
        if not self.settings.database.external:
            chosen.append(self.postgres)
        return chosen

    def refresh_mqtt_auth(self) -> None:
        """Regenerate the broker's password file and ACL from the catalog, and reload it."""
        catalog = catalog_of(self.settings)
        self.mosquitto.passwd = password_file(catalog, self.creds)
        self.mosquitto.acl = acl_file(catalog, self.creds, self.settings.alerts.mqtt_topic_prefix,
                                      self.settings.plugins, self.settings.broadcast.topic_prefix)
        if self.mosquitto.pid() is not None:
            self.mosquitto.write_auth(self.mosquitto.passwd, self.mosquitto.acl)
            self.mosquitto.reload()

    def up(self) -> None:
        """Start every local server and wait until each answers; harmless when already up."""
        if not self.settings.mqtt.external:
            self.refresh_mqtt_auth()
        started: list[Service] = []
        try:
            for service in self.local_services():
                service.start()
                started.append(service)
        except ServiceError:
            for service in reversed(started):
                service.stop()
            raise

    def down(self) -> list[str]:
        """Stop the servers this stack started (by pid file); returns the names stopped."""
        return [s.name for s in reversed(self.local_services()) if s.stop()]

    def status(self) -> list[ServiceStatus]:
        """Every server, embedded or external, and whether it answers."""
        s = self.settings
        rows = [
            ServiceStatus("mosquitto", f"{s.mqtt.host or '127.0.0.1'}:{s.mqtt.port}",
                          None, False, s.mqtt.external),
            ServiceStatus("tansu" if not s.kafka.external else "kafka", s.kafka.servers,
                          None, False, s.kafka.external),
            ServiceStatus("postgres", f"{s.database.host or '127.0.0.1'}:{s.database.port}",
                          None, False, s.database.external),
        ]
        local = {svc.name: svc for svc in self.local_services()}
        return [
            ServiceStatus(r.name, r.where, local[r.name].pid(), local[r.name].healthy(), False)
            if r.name in local else r
            for r in rows
        ]
