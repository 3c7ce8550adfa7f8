"""What the commands print into a pipe or a file: every line whole, tables without borders,
panels as their title and text (a terminal keeps rich's layout)."""

from __future__ import annotations

import pytest
from rich.panel import Panel
from rich.table import Table

from fjsense import output

BOX = set("│┃─━┏┓┗┛└┘┌┐╭╮╰╯┡┩├┤┼╇╈═║")
PATH = "/srv/a folder with spaces/" + "y" * 120 + "/notify.log"


def test_piped_tables_and_panels_have_no_borders_and_no_wrapped_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    console = output.console()  # pytest's captured stdout is not a terminal
    table = Table("site", "window end", "PUE 1 min", title="power: energy-based PUE")
    table.add_row("changle-dc1", "2026-12-07 01:00", "1.284")
    table.add_row("anxi-dc1", "2026-12-07 01:00", "—")
    console.print(table)
    console.print(Panel(f"notifications:  the log receiver writes {PATH}", title="next steps"))
    lines = capsys.readouterr().out.splitlines()
    assert not BOX & set("".join(lines))
    assert [line.split() for line in lines[1:]] == [
        ["site", "window", "end", "PUE", "1", "min"],
        ["changle-dc1", "2026-12-07", "01:00", "1.284"],
        ["anxi-dc1", "2026-12-07", "01:00", "—"],
        ["next", "steps"],
        ["notifications:", "the", "log", "receiver", "writes", *PATH.split()]]
    assert lines[0].strip() == "power: energy-based PUE"


def test_a_table_printed_plain_keeps_its_own_borders_for_a_terminal() -> None:
    table = Table("a", "b")
    plain = output.undecorated(table)
    assert plain.box is None and table.box is not None  # the caller's table is not changed
