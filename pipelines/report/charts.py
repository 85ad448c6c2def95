"""Inline SVG charts for the report (horizontal stacked bars, overlaid histograms) and
the palette every section draws with."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pipelines.report.html import escape, short_number, thousands

# Palette: outcomes have fixed colours; sources take SOURCE_COLORS in order of name.
KEPT, DROPPED, DEAD, BEFORE, TARGET, ACCENT = (
    "#2a9d8f",
    "#e15759",
    "#9c755f",
    "#c9ced6",
    "#aab2bd",
    "#8e6bbf",
)
SOURCE_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7")
WIDTH = 960  # drawing width of every plot, in CSS pixels


def _cut(label: str, limit: int = 44) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _text_px(text: str) -> float:
    """Approximate width of `text` at 12px in a system sans-serif font, for layout."""
    wide = sum(1 for c in text if c.isupper() or c in "%mwMW—")
    return wide * 8.6 + (len(text) - wide) * 6.7


def _nice_ticks(top: float, count: int = 5, integer: bool = True) -> list[float]:
    """0 .. a round number >= top, in about `count` round steps (whole numbers if
    `integer`: counts of documents)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = max(top / count, 1.0) if integer else top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(s * magnitude for s in (1, 2, 2.5, 5, 10) if s * magnitude >= raw)
    steps = math.ceil(top / step - 1e-9)
    return [i * step for i in range(steps + 1)]


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>"
    )


@dataclass
class Bar:
    """One row of a bar chart: a label, stacked (value, colour, tooltip) segments, and the
    text written after the bar."""

    label: str
    segments: list[tuple[float, str, str]]
    note: str = ""
    gap: int = 0  # extra space above the row, in pixels, to group rows


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    x_label: str,
    tick: Callable[[float], str] = short_number,
    integer: bool = True,
    width: int = WIDTH,
) -> str:
    """Horizontal bars (segments stacked left to right) with a value axis -> inline SVG."""
    label_w = int(min(max(max(_text_px(_cut(b.label)) for b in bars) + 16, 70), 340))
    note_w = int(min(max(max(_text_px(b.note) for b in bars) + 14, 40), 340))
    plot_w = width - label_w - note_w - 8
    row_h, bar_h, top = 26, 17, 8
    offsets = np.cumsum([b.gap for b in bars]) if bars else []
    height = top + row_h * len(bars) + int(offsets[-1]) + 44
    ticks = _nice_ticks(max(sum(s[0] for s in b.segments) for b in bars), integer=integer)
    scale = plot_w / ticks[-1]
    axis_y = top + row_h * len(bars) + int(offsets[-1]) + 4
    parts = [_svg_open(width, height, title)]
    for t in ticks:
        x = label_w + t * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 2}" x2="{x:.1f}" y2="{axis_y}" class="grid"/>'
            f'<text x="{x:.1f}" y="{axis_y + 15}" text-anchor="middle" class="tick">'
            f"{escape(tick(t))}</text>"
        )
    parts.append(
        f'<line x1="{label_w}" y1="{top - 2}" x2="{label_w}" y2="{axis_y}" class="axis"/>'
        f'<text x="{label_w + plot_w / 2:.1f}" y="{axis_y + 34}" text-anchor="middle" '
        f'class="axis-label">{escape(x_label)}</text>'
    )
    for i, bar in enumerate(bars):
        y = top + i * row_h + offsets[i] + (row_h - bar_h) / 2
        middle = top + i * row_h + offsets[i] + row_h / 2 + 4
        parts.append(
            f'<text x="{label_w - 8}" y="{middle:.1f}" text-anchor="end">'
            f"<title>{escape(bar.label)}</title>{escape(_cut(bar.label))}</text>"
        )
        x = float(label_w)
        for value, color, tip in bar.segments:
            w = value * scale
            if w > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 1):.1f}" height="{bar_h}" '
                    f'fill="{color}"><title>{escape(tip)}</title></rect>'
                )
            x += w
        parts.append(
            f'<text x="{x + 6:.1f}" y="{middle:.1f}" class="value">{escape(bar.note)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass
class Series:
    """Histogram counts per bin, drawn in `color` (the first series is drawn first)."""

    name: str
    counts: np.ndarray
    color: str
    opacity: float = 1.0


def histogram(
    series: Sequence[Series],
    edges: np.ndarray,
    *,
    title: str,
    ticks: Sequence[tuple[float, str]],
    x_label: str,
    y_label: str = "documents",
    width: int = WIDTH,
    height: int = 210,
    marker: tuple[float, str] | None = None,
    bin_text: Callable[[float, float], str] = lambda a, b: f"{a:.3g}–{b:.3g}",
) -> str:
    """Overlaid histograms over shared bin `edges` (in plot units, e.g. log10 of the
    value) with x `ticks` (position, text) and an optional labelled vertical `marker` ->
    inline SVG."""
    left, right, top, bottom = 58, 16, 24, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = float(edges[0]), float(edges[-1])
    peak = max((float(s.counts.max()) for s in series if len(s.counts)), default=0.0)
    y_ticks = _nice_ticks(peak, 4)

    def px(value: float) -> float:
        return left + (value - lo) / (hi - lo) * plot_w

    def py(count: float) -> float:
        return top + plot_h - count / y_ticks[-1] * plot_h

    parts = [_svg_open(width, height, title)]
    parts.append(f'<text x="{left}" y="14" class="panel-title">{escape(title)}</text>')
    for t in y_ticks:
        parts.append(
            f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + plot_w}" y2="{py(t):.1f}" '
            f'class="grid"/><text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end" '
            f'class="tick">{escape(short_number(t))}</text>'
        )
    for position, text in ticks:
        parts.append(
            f'<line x1="{px(position):.1f}" y1="{top + plot_h}" x2="{px(position):.1f}" '
            f'y2="{top + plot_h + 4}" class="axis"/><text x="{px(position):.1f}" '
            f'y="{top + plot_h + 17}" text-anchor="middle" class="tick">{escape(text)}</text>'
        )
    for s in series:
        for i, count in enumerate(s.counts):
            if count <= 0:
                continue
            x0, x1 = px(edges[i]) + 0.5, px(edges[i + 1]) - 0.5
            tip = f"{s.name}: {thousands(count)} in {bin_text(edges[i], edges[i + 1])}"
            parts.append(
                f'<rect x="{x0:.1f}" y="{py(count):.1f}" width="{max(x1 - x0, 1):.1f}" '
                f'height="{top + plot_h - py(count):.1f}" fill="{s.color}" '
                f'fill-opacity="{s.opacity}"><title>{escape(tip)}</title></rect>'
            )
    if marker is not None and lo <= marker[0] <= hi:
        x = px(marker[0])
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + plot_h}" class="marker"/>'
            f'<text x="{x - 4:.1f}" y="{top + 8}" text-anchor="end" class="marker-label">'
            f"{escape(marker[1])}</text>"
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'class="axis"/><text x="{left + plot_w / 2:.1f}" y="{height - 6}" '
        f'text-anchor="middle" class="axis-label">{escape(x_label)}</text>'
        f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" class="axis-label">{escape(y_label)}</text></svg>'
    )
    return "".join(parts)


@dataclass
class Line:
    """One line of a line chart: (x, y) points in x order, drawn in `color`; `band`: an
    optional (low, high) per point, shaded around it (a spread over seeds)."""

    name: str
    points: list[tuple[float, float]]
    color: str
    band: list[tuple[float, float]] | None = None


def line_chart(
    lines: Sequence[Line],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = WIDTH,
    height: int = 300,
) -> str:
    """Lines over a shared x axis (from 0) and a y axis fitted to the values -> inline SVG."""
    left, right, top, bottom = 64, 16, 10, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for line in lines for x, _ in line.points]
    ys = [y for line in lines for _, y in line.points]
    ys += [v for line in lines for pair in line.band or () for v in pair]
    x_ticks = _nice_ticks(max(xs, default=1.0), integer=True)
    low, high = min(ys, default=0.0), max(ys, default=1.0)
    pad = (high - low) * 0.05 or 0.5
    low, high = low - pad, high + pad

    def at(x: float, y: float) -> tuple[float, float]:
        return left + x / x_ticks[-1] * plot_w, top + (high - y) / (high - low) * plot_h

    parts = [_svg_open(width, height, title)]
    for t in x_ticks:
        x, _ = at(t, low)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" class="grid"/>'
            f'<text x="{x:.1f}" y="{top + plot_h + 15}" text-anchor="middle" class="tick">'
            f"{escape(short_number(t))}</text>"
        )
    for i in range(5):
        value = low + (high - low) * i / 4
        _, y = at(0, value)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{value:.2f}</text>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" '
        f'class="axis-label">{escape(x_label)}</text>'
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" class="axis-label" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    for line in lines:
        if line.band:
            upper = [at(x, hi) for (x, _), (_, hi) in zip(line.points, line.band, strict=True)]
            lower = [at(x, lo) for (x, _), (lo, _) in zip(line.points, line.band, strict=True)]
            outline = " ".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower[::-1])
            parts.append(f'<polygon points="{outline}" fill="{line.color}" opacity="0.18"/>')
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(*p) for p in line.points))
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{line.color}" stroke-width="2">'
            f"<title>{escape(line.name)}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)
