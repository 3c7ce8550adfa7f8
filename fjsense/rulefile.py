"""Alert rule files: the platform's and each kind's shipped rules and the operator's file,
whose rules replace shipped ones of the same name and whose routes the notifier reads.
``${section.name}`` is filled from the settings, and positions are kept for errors that name
the file and the line."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from fjsense.registry import registry
from fjsense.settings import Settings
from fjsense.yamlfile import YamlDoc, YamlError

SECTIONS = ("rules", "routes", "shipped", "time_intervals", "receivers")

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


def operator_rule_file(settings: Settings, path: Path | None = None) -> YamlDoc | None:
    """The operator's file ``path`` (default: ``alerts.rules_file``), parsed; None if unset.
    It alone holds routes."""
    path = path if path is not None else settings.alerts.rules_file
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlError(f"{path}: cannot read the rule file: {exc.strerror}") from None
    return parse_rule_text(text, str(path), settings)


def read_rule_files(settings: Settings, path: Path | None = None) -> list[YamlDoc]:
    """The platform's rules, every kind's shipped rule file in registry order, then the
    operator's (``path``, default ``alerts.rules_file``), whose rule of a shipped rule's name
    replaces it. An operator's file with ``shipped: false`` stands alone: its rules only."""
    operator = operator_rule_file(settings, path)
    if operator is not None and operator.data.get("shipped", True) is False:
        return [operator]
    platform = resources.files("fjsense").joinpath("rules.yaml")
    docs = [parse_rule_text(platform.read_text(encoding="utf-8"), "platform rules (rules.yaml)",
                            settings)]
    for kind in registry(settings.plugins).values():
        if kind.rules is not None:
            docs.append(parse_rule_text(kind.rules.read_text(encoding="utf-8"),
                                        f"{kind.name} rules ({kind.rules.name})", settings))
    return docs if operator is None else [*docs, operator]


def parse_rule_text(text: str, name: str, settings: Settings) -> YamlDoc:
    """One rule file's text, parsed with ``${section.name}`` filled from ``settings``; YamlError
    names the file and line of a problem."""
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
    if not isinstance(doc.data.get("shipped", True), bool):
        raise doc.error(["shipped"], "`shipped` is true (merge with the kinds' rules, the "
                        "default) or false (this file's rules only)")
    unknown = sorted(set(doc.data) - set(SECTIONS))
    if unknown:
        raise doc.error([unknown[0]], f"unknown section; a rule file has {', '.join(SECTIONS)}")
    return doc
