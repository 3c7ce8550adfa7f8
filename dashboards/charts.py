"""Charts drawn as inline SVG, so a report is one self-contained file that any browser opens
and prints, with no script and no network."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, BAR_HEIGHT, LABEL_WIDTH, GAP = 640, 22, 200, 6


def bar_chart(bars: Sequence[tuple[str, float | None]], unit: str = "",
              target: float | None = None, target_label: str = "",
              low: float = 0.0, decimals: int = 3, bad_below: bool = False) -> str:
    """Horizontal bars from ``low`` (a bar of None: "no data"), with a dashed target line;
    a bar on the target's wrong side (above it, or below it where ``bad_below``: a coverage
    rate) is drawn in red. ``role="img"``, for readers."""
    values = [v for _, v in bars if v is not None]
    high = max([*values, target or low, low + 1e-9]) * 1.05
    scale = (WIDTH - LABEL_WIDTH - 60) / (high - low)
    height = len(bars) * (BAR_HEIGHT + GAP) + 30
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" '
             f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" '
             f'font-size="12">')]
    for n, (label, value) in enumerate(bars):
        y = n * (BAR_HEIGHT + GAP) + 4
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">'
                     f'{escape(label)}</text>')
        if value is None:
            parts.append(f'<text x="{LABEL_WIDTH + 4}" y="{y + 15}" fill="#888">no data</text>')
            continue
        over = target is not None and (value < target if bad_below else value > target)
        length = max((value - low) * scale, 1.0)
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" '
                     f'height="{BAR_HEIGHT}" fill="{"#d9534f" if over else "#3c8dbc"}"/>')
        parts.append(f'<text x="{LABEL_WIDTH + length + 4:.1f}" y="{y + 15}">'
                     f'{value:.{decimals}f}{escape(unit)}</text>')
    if target is not None:
        x = LABEL_WIDTH + (target - low) * scale
        bottom = len(bars) * (BAR_HEIGHT + GAP)
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{bottom}" stroke="#333" '
                     'stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">'
                     f'{escape(target_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
