"""Where the commands print: a terminal gets rich's layout; a pipe or a file gets every line
whole.

rich sizes itself to the terminal and, with none, to 80 columns: piped output would then be
wrapped (a long path broke ``alerts check``'s first line) and tables cut. Output that people
pipe is never wrapped or decorated, so without a terminal the console is as wide as the text.
"""

from __future__ import annotations

import sys

from rich.console import Console

UNWRAPPED = 1_000_000  # columns: wider than any line, so nothing is folded or cut


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that wraps only on a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=UNWRAPPED, soft_wrap=True, highlight=False)
