"""The demo's live view fits a 200×50 terminal with its alerts and components first, folds
the kinds' own views when the screen is short, and says where it is in plain lines when its
output is not a terminal."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from app.demo import Snapshot, progress_line, render, stages
from fjsense import topics
from fjsense.registry import registry

KINDS = registry()


def snapshot(firing: int) -> Snapshot:
    rows = stages(KINDS)
    counts = dict.fromkeys((key for _, key in rows), 1000)
    views = [(kind, [(f"site-{n}", *([1.0] * (len(kind.live_view.columns) - 1)))
                     for n in range(13 if kind.name == "cell" else 6)])
             for kind in KINDS.values() if kind.live_view is not None]
    alerts = [(f"site-{n}", "buoy-hypoxia", datetime(2026, 12, 5, tzinfo=UTC), 2.5)
              for n in range(firing)]
    components = {name: {"state": "ready", "restarts": 0}
                  for name in ("bridge", "worker", "sink", "notify", "hj212")}
    return Snapshot(0.0, rows, counts, views, alerts, components)


def shown(firing: int, height: int) -> list[str]:
    console = Console(width=200, height=height, record=True, force_terminal=True)
    console.print(render(snapshot(firing), None, 42.0, KINDS, height))
    return console.export_text().splitlines()


def test_alerts_and_components_come_first_and_the_view_fits_50_lines():
    lines = shown(30, 50)
    assert len(lines) <= 50
    text = "\n".join(lines)
    assert text.index("components") < text.index("firing alerts (30)") < text.index("pipeline")
    assert "42 s left" in text and "… and 18 more" in text
    assert "folded for a short screen:" in text


def test_a_tall_screen_shows_every_kinds_view():
    text = "\n".join(shown(2, 400))
    assert "folded" not in text
    assert all(f"{kind.name}: " in text for kind in KINDS.values() if kind.live_view)


def test_a_plain_progress_line_without_a_terminal():
    line = progress_line(snapshot(3), 61.4, KINDS)
    stored = 1000 * len(KINDS)
    assert line == (f"1,000 messages published, {stored:,} readings stored, 1,000 dead letters, "
                    "3 alerts firing, 61 s left")
    assert topics.DEADLETTER in dict(stages(KINDS)).values()
