"""Where the commands print: a terminal gets rich's layout; a pipe or a file gets every line
whole, with no decoration.

rich sizes itself to the terminal and, with none, to 80 columns: piped output would then be
wrapped (a long path broke ``alerts check``'s first line) and tables cut. Output that people
pipe is never wrapped or decorated, so without a terminal the console is as wide as the text,
tables lose their borders (columns stay apart by spaces, for ``awk`` and ``grep``) and a panel
prints as its title and its text.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

UNWRAPPED = 1_000_000  # columns: wider than any line, so nothing is folded or cut


class PlainConsole(Console):
    """A console for a pipe or a file: nothing wrapped, no borders, no boxes."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """Print as rich would, with tables and panels undecorated (``undecorated``)."""
        super().print(*map(undecorated, objects), **kwargs)


def undecorated(renderable: Any) -> Any:
    """A table without borders, a panel as its title and text; anything else as it is."""
    if isinstance(renderable, Table):
        table = copy.copy(renderable)
        table.box, table.show_edge, table.pad_edge = None, False, False
        return table
    if isinstance(renderable, Panel):
        body = undecorated(renderable.renderable)
        return Group(renderable.title, body) if renderable.title else body
    return renderable


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that wraps and decorates only on a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return PlainConsole(stderr=stderr, width=UNWRAPPED, soft_wrap=True, highlight=False)
