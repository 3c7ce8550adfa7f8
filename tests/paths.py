"""Where the tests' real records are, whatever the checkout's path and the test's depth."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the checkout
DATA = ROOT / "tests" / "data"  # small real records kept with their source and licence
SHARED = ROOT.parent / "shared" / "data"  # the larger ones, beside the checkout
