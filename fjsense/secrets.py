"""Passwords: from the environment when given there, otherwise generated once into the stack home."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pydantic import SecretStr


class SecretStore:
    """A JSON file of generated passwords (mode 0600) under the stack home; never in the repo."""

    def __init__(self, home: Path) -> None:
        self.path = home / "secrets.json"

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        data: dict[str, str] = json.loads(self.path.read_text(encoding="utf-8"))
        return data

    def get(self, name: str, given: SecretStr | None = None) -> str:
        """``given`` when set (from config or environment), else the stored or a new password."""
        if given is not None:
            return given.get_secret_value()
        data = self._load()
        if name not in data:
            data[name] = secrets.token_urlsafe(18)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, sort_keys=True)
            tmp.replace(self.path)
        return data[name]
