"""The kernel holds what every stage shares and imports none of them; only the commands
sub-package (CLI, demo, child processes) stands above the stages and may."""

from __future__ import annotations

import ast
from pathlib import Path

STAGES = {"ingest", "streams", "sinks", "dashboards", "simulators"}
KERNEL = Path(__file__).parents[2] / "fjsense"


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_no_kernel_module_imports_a_stage():
    modules = [p for p in KERNEL.rglob("*.py") if "commands" not in p.relative_to(KERNEL).parts]
    assert len(modules) > 10
    offenders = {str(p.relative_to(KERNEL)): imported_packages(p) & STAGES for p in modules}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_commands_do_use_the_stages():  # the check above would notice a moved CLI
    used = set().union(*(imported_packages(p) for p in (KERNEL / "commands").glob("*.py")))
    assert {"dashboards", "simulators"} <= used
