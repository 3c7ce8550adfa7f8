"""YAML read with positions, so a validation error can name the file and the line."""

from __future__ import annotations

import difflib
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


def located(name: str, text: str, exc: yaml.YAMLError) -> str:
    """A parse error at the line where the broken construct begins (PyYAML's context mark:
    an unclosed ``[`` is found only past the end of the file) and, where it differs, the line
    where parsing failed. A construct PyYAML places past the last line is an unclosed bracket
    or brace: the line that opened it is named."""
    context, problem = getattr(exc, "context_mark", None), getattr(exc, "problem_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    if context is None:
        where = f":{problem.line + 1}" if problem is not None else ""
        return f"{name}{where}: not valid YAML: {what}"
    line, column = context.line + 1, context.column + 1
    if line > len(text.splitlines()) and (opened := unclosed(text)) is not None:
        line, column = opened
    begun = f"{exc.context} at line {line}, column {column}"  # type: ignore[attr-defined]
    failed = ""
    if problem is not None and problem.line + 1 != line:
        past_end = problem.line + 1 > len(text.splitlines())
        failed = ("; parsing failed at the end of the file" if past_end else
                  f"; parsing failed at line {problem.line + 1}")
    return f"{name}:{line}: not valid YAML: {what} ({begun}{failed})"


def unclosed(text: str) -> tuple[int, int] | None:
    """(line, column), 1-based, of the last ``[`` or ``{`` never closed, outside quotes and
    comments; None if every one is closed."""
    opened: list[tuple[int, int]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        quote = ""
        for column, char in enumerate(line, start=1):
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "#" and (column == 1 or line[column - 2] in " \t"):
                break
            elif char in "[{":
                opened.append((number, column))
            elif char in "]}" and opened:
                opened.pop()
    return opened[-1] if opened else None


@dataclass(frozen=True)
class YamlDoc:
    """The data of one YAML document and its node tree (for line numbers)."""

    name: str
    data: Any
    root: yaml.Node | None

    @classmethod
    def parse(cls, text: str, name: str) -> YamlDoc:
        """Parse ``text`` keeping each node's line; YamlError says where a broken construct
        begins."""
        try:
            loader = _LOADER(text)
            try:
                root = loader.get_single_node()
                data = loader.construct_document(root) if root is not None else None
            finally:
                loader.dispose()
        except yaml.YAMLError as exc:
            raise YamlError(located(name, text, exc)) from None
        return cls(name, data, root)

    def line(self, path: Sequence[str | int]) -> int:
        """1-based line of the node at ``path``, or of its deepest existing parent."""
        node = self.node(path)
        return 1 if node is None else node.start_mark.line + 1

    def text_line(self, path: Sequence[str | int], line: int) -> int:
        """1-based line of the file holding line ``line`` (1-based) of the string at ``path``:
        a block scalar (``|``, ``>``) begins on the line after its indicator."""
        node = self.node(path)
        if node is None:
            return 1
        block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
        return node.start_mark.line + (2 if block else 1) + line - 1

    def node(self, path: Sequence[str | int]) -> yaml.Node | None:
        """The node at ``path``, or its deepest existing parent; None for an empty document."""
        node = self.root
        if node is None:
            return None
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
        return node

    def error(self, path: Sequence[str | int], reason: str) -> YamlError:
        """A YamlError naming the file, the line of ``path`` in it, and the field."""
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")
        return YamlError(f"{self.name}:{self.line(path)}: {where or 'document'}: {reason}")

    def invalid(self, path: Sequence[str | int], exc: ValidationError) -> YamlError:
        """The first problem of ``exc`` (raised validating the node at ``path``), located. An
        unknown field is named first: a misspelt one would otherwise be reported only as the
        right one missing."""
        errors = exc.errors()
        unknown = [e for e in errors if e["type"] == "extra_forbidden"]
        if not unknown:
            first = errors[0]
            return self.error([*path, *first["loc"]], first["msg"])
        where, name = unknown[0]["loc"][:-1], str(unknown[0]["loc"][-1])
        missing = [str(e["loc"][-1]) for e in errors
                   if e["type"] == "missing" and e["loc"][:-1] == where]
        close = difflib.get_close_matches(name, missing, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return self.error([*path, *unknown[0]["loc"]], f"unknown field {name!r}{hint}")
