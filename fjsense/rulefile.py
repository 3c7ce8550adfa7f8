"""The alert rule file as one document: its rules (judged by the worker) and its routes (read
by the notifier), with ``${section.name}`` filled from the settings and positions kept for
errors that name the file and the line."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from fjsense.settings import Settings
from fjsense.yamlfile import YamlDoc, YamlError

SECTIONS = ("rules", "routes")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def seconds(value: Any) -> float:
    """A duration: a number of seconds, or text such as ``90s``, ``5m``, ``1h``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '5m'")  # noqa: TRY004
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a duration (e.g. 300, '90s', '5m', '1h')")
    return float(match.group(1)) * _UNIT[match.group(2)]


def read_rule_file(settings: Settings, path: Path | None = None) -> YamlDoc:
    """The file ``path`` (default: ``alerts.rules_file``, else the shipped one), parsed."""
    path = path if path is not None else settings.alerts.rules_file
    if path is None:
        name = "fjsense/alert_rules.yaml"
        text = resources.files("fjsense").joinpath("alert_rules.yaml").read_text(encoding="utf-8")
    else:
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise YamlError(f"{path}: cannot read the rule file: {exc.strerror}") from None
    return parse_rule_text(text, name, settings)


def parse_rule_text(text: str, name: str, settings: Settings) -> YamlDoc:
    def setting(match: re.Match[str]) -> str:
        value: Any = settings
        for part in match.group(1).split("."):
            if not hasattr(value, part):
                line = text[:match.start()].count("\n") + 1
                raise YamlError(f"{name}:{line}: unknown setting ${{{match.group(1)}}}")
            value = getattr(value, part)
        return str(value)

    doc = YamlDoc.parse(re.sub(r"\$\{([a-z_.]+)\}", setting, text), name)
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("rules"), list):
        raise doc.error([], "a rule file is a mapping with a `rules` list")
    unknown = sorted(set(doc.data) - set(SECTIONS))
    if unknown:
        raise doc.error([unknown[0]], f"unknown section; a rule file has {', '.join(SECTIONS)}")
    return doc
