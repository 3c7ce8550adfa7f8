"""The house's layering, enforced: the kernel imports no stage, no kind and no app; the stages
import no kind and no app, and name no built-in kind; a kind imports no other kind and no
app. So a kind is one folder, and the CLI stands on top."""

from __future__ import annotations

import ast
from pathlib import Path

from fjsense.registry import registry
from tests.paths import ROOT

STAGES = ("ingest", "streams", "sinks", "dashboards", "simulators")
KINDS = ROOT / "kinds"


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported(source: str) -> set[str]:
    """Dotted modules a source imports (absolute imports only: the project uses no others)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def literals(source: str) -> set[str]:
    """String constants of a source, docstrings left out (prose may mention a buoy)."""
    tree = ast.parse(source)
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docs}


def builtin_names() -> tuple[set[str], set[str]]:
    """What would name a built-in kind in code: its name and its components' (a string that is
    one: ``kinds["pollution"]``), and its topics and tables (also as a word of SQL)."""
    names: set[str] = set()
    words: set[str] = set()
    for kind in registry().values():
        names |= {kind.name, *(c.name for c in kind.components)}
        words |= {s.topic for s in kind.streams}
        words |= {s.table.name for s in kind.streams if s.table is not None}
        words |= {t.name for m in kind.migrations for t in m.tables}
    return names, words


def naming(source: str, builtin: tuple[set[str], set[str]]) -> set[str]:
    """The built-in names a source's string constants are, or hold as a word."""
    names, words = builtin
    found = set()
    for text in literals(source):
        held = set(text.replace("(", " ").replace(")", " ").replace(",", " ").split())
        found |= (names | words) & {text} | (words & held)
    return found


def test_the_kernel_imports_no_stage_no_kind_and_no_app() -> None:
    offenders = {str(p.relative_to(ROOT)): top(imported(p.read_text())) & {*STAGES, "kinds", "app"}
                 for p in python_files(ROOT / "fjsense")}
    assert len(offenders) >= 20
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_stage_imports_a_kind_or_the_app_or_names_a_built_in_kind() -> None:
    names = builtin_names()
    files = [p for stage in STAGES for p in python_files(ROOT / stage)]
    assert len(files) > 40
    imports = {str(p.relative_to(ROOT)): top(imported(p.read_text())) & {"kinds", "app"}
               for p in files}
    assert {k: v for k, v in imports.items() if v} == {}
    named = {str(p.relative_to(ROOT)): naming(p.read_text(), names) for p in files}
    assert {k: v for k, v in named.items() if v} == {}


def test_the_kernel_names_no_built_in_kind() -> None:
    names = builtin_names()
    named = {str(p.relative_to(ROOT)): naming(p.read_text(), names)
             for p in python_files(ROOT / "fjsense")}
    named.pop("fjsense/registry.py")  # the one list of the built-in kinds' modules
    assert {k: v for k, v in named.items() if v} == {}


def test_a_kind_imports_no_other_kind_and_not_the_app() -> None:
    folders = sorted(p for p in KINDS.iterdir() if (p / "__init__.py").exists())
    assert [f.name for f in folders] == ["buoy", "cells", "pollution", "power", "tide"]
    offenders = {}
    for folder in folders:
        for path in python_files(folder):
            modules = imported(path.read_text())
            others = {m for m in modules if m.startswith("kinds.")
                      and m.split(".")[1] != folder.name}
            if others or "app" in top(modules):
                offenders[str(path.relative_to(ROOT))] = others | (top(modules) & {"app"})
    assert offenders == {}


def test_every_built_in_kind_lives_in_its_folder() -> None:
    """Its declaration, processors, dashboards, simulator and rules come from kinds/<name>/."""
    for kind in registry().values():
        folder = KINDS / {"cell": "cells", "mr": "cells"}.get(kind.name, kind.name)
        parts = [*kind.load("processors"), *kind.load("dashboards")]
        if kind.simulator is not None:
            parts.append(kind.load("simulator"))
        for part in parts:
            assert part.__module__.startswith(f"kinds.{folder.name}."), (kind.name, part)
        if kind.rules is not None:
            assert kind.rules.parent == folder


def undocumented(source: str) -> list[str]:
    """Public classes, functions and methods of a source without a docstring."""
    missing = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) \
                    and not child.name.startswith("_"):
                if ast.get_docstring(child) is None:
                    missing.append(prefix + child.name)
                if isinstance(child, ast.ClassDef):
                    walk(child, f"{child.name}.")

    walk(ast.parse(source), "")
    return missing


def test_every_public_class_and_function_of_the_engines_and_the_kernel_says_why() -> None:
    """A docstring on each (issue 19): the engines and the kernel are what a plugin reads."""
    files = [p for folder in ("fjsense", *STAGES) for p in python_files(ROOT / folder)]
    missing = {str(p.relative_to(ROOT)): undocumented(p.read_text()) for p in files}
    assert sum(len(p.read_text()) for p in files) > 100_000
    assert {k: v for k, v in missing.items() if v} == {}


def test_the_checks_above_catch_what_they_look_for() -> None:
    """Planted offences: an import of a kind, a topic in SQL, a kind's name as a key."""
    names = builtin_names()
    assert top(imported("from kinds.power.kind import KIND\n")) == {"kinds"}
    assert naming('SQL = "SELECT pue FROM pue_windows WHERE x"\n', names) == {"pue_windows"}
    assert naming('kinds["pollution"].mqtt_filter\n', names) == {"pollution"}
    assert naming('"""A docstring about a buoy and pollution."""\n', names) == set()
    assert undocumented('class A:\n    """Why."""\n    def run(self): pass\n    def _x(self): pass\n'
                        'def f():\n    """Why."""\n') == ["A.run"]
