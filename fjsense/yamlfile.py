"""YAML read with positions, so a validation error can name the file and the line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

# libyaml where PyYAML was built with it: an operator's catalog of 10,000 stations reads in a
# second, not half a minute; its nodes carry the same line marks
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlError(ValueError):
    """A YAML document is not valid; the message reads ``file:line: where: what``."""


@dataclass(frozen=True)
class YamlDoc:
    """The data of one YAML document and its node tree (for line numbers)."""

    name: str
    data: Any
    root: yaml.Node | None

    @classmethod
    def parse(cls, text: str, name: str) -> YamlDoc:
        try:
            loader = _LOADER(text)
            try:
                root = loader.get_single_node()
                data = loader.construct_document(root) if root is not None else None
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise YamlError(f"{name}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
        return cls(name, data, root)

    def line(self, path: Sequence[str | int]) -> int:
        """1-based line of the node at ``path``, or of its deepest existing parent."""
        node = self.root
        if node is None:
            return 1
        for part in path:
            child = None
            if isinstance(node, yaml.MappingNode):
                child = next((v for k, v in node.value if k.value == str(part)), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and \
                    0 <= part < len(node.value):
                child = node.value[part]
            if child is None:
                break
            node = child
        return node.start_mark.line + 1

    def error(self, path: Sequence[str | int], reason: str) -> YamlError:
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")
        return YamlError(f"{self.name}:{self.line(path)}: {where or 'document'}: {reason}")

    def invalid(self, path: Sequence[str | int], exc: ValidationError) -> YamlError:
        """The first problem of ``exc`` (raised validating the node at ``path``), located."""
        first = exc.errors()[0]
        return self.error([*path, *first["loc"]], first["msg"])
