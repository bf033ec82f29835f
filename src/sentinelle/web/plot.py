"""A server-side SVG line chart of one figure per day: the actor's, their usual and their
team's. No script, no library: numbers go into attributes, text is escaped, and the same
numbers are in a table beside it for screen readers and for copying."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

__all__ = ["Series", "line_chart"]

_W: Final = 760
_H: Final = 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 28, 12, 34


@dataclass(frozen=True, slots=True)
class Series:
    """One line: its name, CSS class (colour, dash) and a value per day (``None``: no value)."""

    name: str
    css: str
    values: Sequence[float | None]


def _nice(top: float) -> float:
    """A round upper bound for the axis (1, 2, 5 × 10^n)."""
    if top <= 0:
        return 1.0
    step: float = 10.0 ** len(str(int(top))) / 10
    for mult in (1, 2, 5, 10):
        if step * mult >= top:
            return step * mult
    return top


def line_chart(labels: Sequence[str], series: Sequence[Series], *, title: str) -> Markup:
    """An SVG chart of ``series`` over the day ``labels`` (one point per label)."""
    n = len(labels)
    top = _nice(max((v for s in series for v in s.values if v is not None), default=0.0))
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(i: int) -> float:
        return _LEFT + (width * i / (n - 1) if n > 1 else width / 2)

    def y(v: float) -> float:
        return _TOP + height - height * v / top

    parts = [
        f'<svg viewBox="0 0 {_W} {_H}" role="img" aria-labelledby="plot-title" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="plot-title">{escape(title)}</title>',
    ]
    for k in range(5):  # horizontal grid and its labels
        level = top * k / 4
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" '
            f'y1="{y(level):.1f}" y2="{y(level):.1f}"/>'
            f'<text class="axis" x="{_LEFT - 6}" y="{y(level) + 4:.1f}" text-anchor="end">'
            f"{level:g}</text>"
        )
    every = max(1, n // 10)
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1:
            parts.append(
                f'<text class="axis" x="{x(i):.1f}" y="{_H - 12}" text-anchor="middle">'
                f"{escape(label[5:])}</text>"
            )
    for s in series:
        runs: list[list[str]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(i):.1f},{y(value):.1f}")
        for run in runs:
            if len(run) > 1:
                parts.append(f'<polyline class="{escape(s.css)}" points="{" ".join(run)}"/>')
        if s.css != "mine":
            continue
        for i, point in enumerate(s.values):
            if point is not None:
                parts.append(
                    f'<circle class="mine" cx="{x(i):.1f}" cy="{y(point):.1f}" r="2.5">'
                    f"<title>{escape(labels[i])}: {point:g}</title></circle>"
                )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped text only
