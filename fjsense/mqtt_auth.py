"""Mosquitto password file and ACL generated from the station catalog.

Each device may publish only under its own topic; the bridge may read every device topic; the
notifier may publish alerts and broadcasts; a kind's component (a gateway) may publish its
kind's readings; a broadcast point may read its broadcasts and acknowledge them.
Anonymous clients are refused.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from fjsense.catalog import Catalog
from fjsense.credentials import Credentials
from fjsense.registry import registry

_PBKDF2_ITERATIONS = 101  # Mosquitto 2.0's own default for `$7$` (PBKDF2-SHA512) hashes


def password_line(username: str, password: str) -> str:
    """One line of a Mosquitto 2 password file, hashed exactly as ``mosquitto_passwd`` does."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS)
    encoded = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"{username}:$7${_PBKDF2_ITERATIONS}${encoded[0]}${encoded[1]}"


def password_file(catalog: Catalog, creds: Credentials) -> str:
    """Mosquitto's password file: the platform's services, the kinds' components and every
    device of the catalog, each with its own password."""
    services = ("bridge", "notifier", *(c.name for k in registry(creds.settings.plugins).values()
                                        for c in k.components))
    logins = [creds.mqtt_service(s) for s in services]
    logins += [creds.device(device.id) for _, device in catalog.devices()]
    logins += [creds.device(point.id) for point in catalog.broadcast_points]
    return "".join(password_line(login.username, login.password) + "\n" for login in logins)


def acl_file(catalog: Catalog, creds: Credentials, alert_prefix: str,
             plugins: tuple[str, ...] = (), broadcast_prefix: str = "fj/broadcast") -> str:
    """Mosquitto's ACL: least privilege per login, so a stolen device password writes only that
    device's topics."""
    kinds = registry(plugins)
    lines = [f"user {creds.mqtt_service('bridge').username}"]
    lines += [f"topic read {kind.mqtt_filter}" for kind in kinds.values()]
    lines += ["", f"user {creds.mqtt_service('notifier').username}",
              f"topic readwrite {alert_prefix}/#", f"topic readwrite {broadcast_prefix}/#"]
    for kind in kinds.values():  # a gateway publishes for devices that cannot speak MQTT
        for component in kind.components:
            lines += ["", f"user {creds.mqtt_service(component.name).username}"]
            if component.publishes:
                lines.append(f"topic write {kind.mqtt_filter}")
    for site, device in catalog.devices():
        lines += ["", f"user {device.id}"]
        lines += [f"topic write {kind.mqtt_topic(site.id, device.id)}"
                  for kind in kinds.values() if kind.sent_by(device.kind)]
    for point in catalog.broadcast_points:  # hears its own broadcasts, acknowledges them
        lines += ["", f"user {point.id}", f"topic read {broadcast_prefix}/{point.id}",
                  f"topic write {broadcast_prefix}/{point.id}/ack"]
    return "\n".join(lines) + "\n"
