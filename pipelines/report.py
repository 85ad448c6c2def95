"""`report.html` for a finished curate run: one self-contained page to judge the data by.

`write_report(output_dir)` reads the run's `manifest.json` and a capped sample of
`documents/` and `rejected/`, and writes `output_dir/report.html`. `build_report(manifest,
documents, rejected)` is the pure part: it returns the page as a string. Plots are inline
SVG drawn here; the page loads nothing (no scripts, styles, fonts or images from elsewhere).

    python -m pipelines.report OUTPUT_DIR [--max_rows N]

Counts that come from the manifest are exact. Per-document figures (languages, lengths, PII,
toxicity) come from the tables; `write_report` reads at most `max_rows` rows of each (whole
row groups, chosen by a stable hash of file name and row-group number; documents are
assigned to shards by a hash of their id, so whole shards are a random sample) and scales
those figures to the full run, which the page says where it happens.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import html
import json
import math
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transforms.balance import DROP_DOWNSAMPLED
from transforms.near_dedup.config import NearDedupConfig
from transforms.near_dedup.transform import DROP_NEAR_DUP
from transforms.near_dedup.transform import STAGE as NEAR_DEDUP_STAGE
from transforms.pii import DROP_PII, PiiConfig
from transforms.pii import STAGE as PII_STAGE
from transforms.quality.langid import DROP_LANG, LanguageConfig
from transforms.quality.langid import STAGE as LANG_STAGE
from transforms.toxicity.stage import DEFAULT_THRESHOLD, DROP_TOXIC
from transforms.toxicity.stage import MAX_KEY as TOXICITY_KEY
from transforms.toxicity.stage import STAGE as TOXICITY_STAGE

REPORT_FILE = "report.html"
# Rows read per table (documents/, rejected/): enough for smooth histograms and shares to
# within a fraction of a percent, while a run of billions of documents stays a quick read.
DEFAULT_MAX_ROWS = 200_000
PII_PREFIX, PII_HITS = "pii.", "pii.hits"
# Only these signals are kept from `scores` when reading a run: the rest can be large.
_SCORE_KEYS = (TOXICITY_KEY, PII_HITS)

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


# ---------------------------------------------------------------------------------------
# Reading a run


@dataclass(frozen=True)
class Sample:
    """How much of a table was read: `rows` of `total_rows`, in `row_groups` of
    `total_row_groups` (whole row groups)."""

    rows: int
    total_rows: int
    row_groups: int
    total_row_groups: int

    @property
    def complete(self) -> bool:
        return self.rows >= self.total_rows

    @property
    def weight(self) -> float:
        """Documents of the run that one read row stands for."""
        return self.total_rows / self.rows if self.rows else 1.0


def _unit_order(path: str, row_group: int) -> bytes:
    """The stable order in which row groups are sampled."""
    return hashlib.blake2b(f"{os.path.basename(path)}#{row_group}".encode(), digest_size=8).digest()


def _slim_scores(scores: pa.Array) -> pa.MapArray:
    """A map<string, double> array -> the same rows with only the keys the report uses."""
    scores = scores.combine_chunks() if isinstance(scores, pa.ChunkedArray) else scores
    offsets = scores.offsets.to_numpy()
    start, stop = int(offsets[0]), int(offsets[-1])
    keys, items = scores.keys.slice(start, stop - start), scores.items.slice(start, stop - start)
    parents = np.repeat(np.arange(len(scores)), np.diff(offsets))
    mask = pc.or_(pc.starts_with(keys, PII_PREFIX), pc.is_in(keys, pa.array(_SCORE_KEYS)))
    mask_np = mask.to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[mask_np], minlength=len(scores))
    new_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.MapArray.from_arrays(pa.array(new_offsets), keys.filter(mask), items.filter(mask))


def read_sample(directory: str, columns: Sequence[str], max_rows: int = DEFAULT_MAX_ROWS):
    """Parquet files in `directory` -> (table, Sample), or (None, None) if there are none.

    Reads only `columns` (those present), whole row groups until `max_rows` is reached (at
    least one), chosen by a stable hash of file name and row-group number. `text` is
    replaced by `text_chars` (its length in characters) and `scores` keeps only the keys the
    report uses, so memory stays proportional to the rows, not to their text.
    """
    files = sorted(glob.glob(os.path.join(directory, "*.parquet")))
    if not files:
        return None, None
    units, total = [], 0
    for path in files:
        meta = pq.ParquetFile(path).metadata
        for i in range(meta.num_row_groups):
            units.append((path, i, meta.row_group(i).num_rows))
            total += meta.row_group(i).num_rows
    chosen, rows = [], 0
    for unit in sorted(units, key=lambda u: _unit_order(u[0], u[1])):
        if rows >= max_rows and chosen:
            break
        chosen.append(unit)
        rows += unit[2]
    if rows >= total:
        chosen = units
    tables = []
    for path, group in sorted((u[0], u[1]) for u in chosen):
        parquet = pq.ParquetFile(path)
        present = [c for c in columns if c in parquet.schema_arrow.names]
        part = parquet.read_row_group(group, columns=present)
        if "text" in present:
            chars = pc.cast(pc.utf8_length(part.column("text")), pa.int64())
            part = part.drop_columns(["text"]).append_column("text_chars", chars)
        if "scores" in present:
            index = part.schema.get_field_index("scores")
            part = part.set_column(index, "scores", _slim_scores(part.column("scores")))
        tables.append(part)
    table = pa.concat_tables(tables) if tables else None
    return table, Sample(rows, total, len(chosen), len(units))


def write_report(output_dir: str, max_rows: int = DEFAULT_MAX_ROWS) -> str:
    """A finished run's directory -> the path of the `report.html` written into it.

    Reads `manifest.json` (required) and up to `max_rows` rows of `documents/` and
    `rejected/` (either may be absent).
    """
    with open(os.path.join(output_dir, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    columns = ["source", "lang", "text", "scores"]
    documents, doc_sample = read_sample(os.path.join(output_dir, "documents"), columns, max_rows)
    rejected_columns = [*columns, "stage", "reason", "duplicate_of"]
    rejected, rej_sample = read_sample(
        os.path.join(output_dir, "rejected"), rejected_columns, max_rows
    )
    samples = {
        name: sample
        for name, sample in (("documents", doc_sample), ("rejected", rej_sample))
        if sample is not None
    }
    page = build_report(manifest, documents, rejected, samples=samples)
    path = os.path.join(output_dir, REPORT_FILE)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(temporary, path)
    return path


# ---------------------------------------------------------------------------------------
# Columns of the tables


class _Rows:
    """The columns of a documents or rejected table the report uses, as numpy arrays.

    `weight` is how many documents of the run one row stands for (1 unless sampled).
    Works on full DOCUMENT_SCHEMA / REJECTED_SCHEMA tables and on `read_sample` output.
    """

    def __init__(self, table: pa.Table, sample: Sample | None):
        self.n = table.num_rows
        self.sample = sample
        self.weight = sample.weight if sample is not None and self.n else 1.0
        names = table.column_names
        self.source = self._strings(table, "source")
        self.lang = self._strings(table, "lang")
        self.stage = self._strings(table, "stage")
        self.reason = self._strings(table, "reason")
        self.duplicate_of = self._strings(table, "duplicate_of")
        if "text_chars" in names:
            self.chars = table.column("text_chars").to_numpy(zero_copy_only=False)
        elif "text" in names:
            self.chars = pc.utf8_length(table.column("text")).to_numpy(zero_copy_only=False)
        else:
            self.chars = None
        if self.chars is not None:
            self.chars = np.nan_to_num(np.asarray(self.chars, dtype=np.float64)).astype(np.int64)
        self._keys, self._values, self._parents = pa.array([], pa.string()), np.zeros(0), None
        if "scores" in names:
            scores = table.column("scores").combine_chunks()
            offsets = scores.offsets.to_numpy()
            start, stop = int(offsets[0]), int(offsets[-1])
            self._keys = scores.keys.slice(start, stop - start)
            self._values = scores.items.slice(start, stop - start).to_numpy(zero_copy_only=False)
            self._parents = np.repeat(np.arange(self.n), np.diff(offsets))

    def _strings(self, table: pa.Table, name: str) -> np.ndarray:
        if name not in table.column_names:
            return np.full(self.n, "(none)", dtype=object)
        values = table.column(name).to_pylist()
        return np.array(["(none)" if v is None else v for v in values], dtype=object)

    def score(self, key: str) -> np.ndarray:
        """One signal per row (NaN where the row does not have it)."""
        out = np.full(self.n, np.nan)
        if self._parents is not None and len(self._keys):
            mask = pc.equal(self._keys, key).to_numpy(zero_copy_only=False)
            out[self._parents[mask]] = self._values[mask]
        return out

    def keys_with_prefix(self, prefix: str) -> list[str]:
        if not len(self._keys):
            return []
        matching = pc.filter(self._keys, pc.starts_with(self._keys, prefix))
        return sorted(pc.unique(matching).to_pylist())


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> list:
    """Values with weights -> the values at quantiles `qs` (NaN when there are none)."""
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    cumulative = np.cumsum(weights)
    if not len(values) or cumulative[-1] <= 0:
        return [math.nan for _ in qs]
    positions = np.searchsorted(cumulative, np.asarray(qs) * cumulative[-1], side="left")
    return [float(values[min(p, len(values) - 1)]) for p in positions]


# ---------------------------------------------------------------------------------------
# Formatting and HTML helpers


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _int(value: float) -> str:
    return f"{int(round(value)):,}"


def _pct(part: float, whole: float, digits: int = 1) -> str:
    return f"{part / whole:.{digits}%}" if whole else "n/a"


def _count(value: float, approximate: bool) -> str:
    return ("≈" if approximate else "") + _int(value)


def _short(value: float) -> str:
    """Axis tick text: 0, 250, 1.5k, 2M, 0.25."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _plural(n: int, word: str) -> str:
    return f"{_int(n)} {word}{'' if n == 1 else 's'}"


def _p(text: str) -> str:
    return f'<p class="key">{text}</p>'


def _no_data(why: str) -> str:
    return f'<p class="nodata">no data: {_e(why)}</p>'


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def _table(headers: Sequence[str], rows: Sequence[Sequence], numeric: Sequence[int] = ()) -> str:
    """Headers and rows of cells (escaped here) -> an HTML table; `numeric` columns align
    right."""
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _legend(items: Sequence[tuple[str, str]]) -> str:
    spans = "".join(
        f'<span><i style="background:{color}"></i>{_e(label)}</span>' for label, color in items
    )
    return f'<div class="legend">{spans}</div>'


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'


def _cut(label: str, limit: int = 44) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------
# SVG plots


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
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(label)}">'
        f"<title>{_e(label)}</title>"
    )


@dataclass
class Bar:
    """One row of a bar chart: a label, stacked (value, colour, tooltip) segments, and the
    text written after the bar."""

    label: str
    segments: list[tuple[float, str, str]]
    note: str = ""
    gap: int = 0  # extra space above the row, in pixels, to group rows


def _bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    x_label: str,
    tick: Callable[[float], str] = _short,
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
            f"{_e(tick(t))}</text>"
        )
    parts.append(
        f'<line x1="{label_w}" y1="{top - 2}" x2="{label_w}" y2="{axis_y}" class="axis"/>'
        f'<text x="{label_w + plot_w / 2:.1f}" y="{axis_y + 34}" text-anchor="middle" '
        f'class="axis-label">{_e(x_label)}</text>'
    )
    for i, bar in enumerate(bars):
        y = top + i * row_h + offsets[i] + (row_h - bar_h) / 2
        middle = top + i * row_h + offsets[i] + row_h / 2 + 4
        parts.append(
            f'<text x="{label_w - 8}" y="{middle:.1f}" text-anchor="end">'
            f"<title>{_e(bar.label)}</title>{_e(_cut(bar.label))}</text>"
        )
        x = float(label_w)
        for value, color, tip in bar.segments:
            w = value * scale
            if w > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 1):.1f}" height="{bar_h}" '
                    f'fill="{color}"><title>{_e(tip)}</title></rect>'
                )
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{middle:.1f}" class="value">{_e(bar.note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


@dataclass
class Series:
    """Histogram counts per bin, drawn in `color` (the first series is drawn first)."""

    name: str
    counts: np.ndarray
    color: str
    opacity: float = 1.0


def _histogram(
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
    parts.append(f'<text x="{left}" y="14" class="panel-title">{_e(title)}</text>')
    for t in y_ticks:
        parts.append(
            f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + plot_w}" y2="{py(t):.1f}" '
            f'class="grid"/><text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end" '
            f'class="tick">{_e(_short(t))}</text>'
        )
    for position, text in ticks:
        parts.append(
            f'<line x1="{px(position):.1f}" y1="{top + plot_h}" x2="{px(position):.1f}" '
            f'y2="{top + plot_h + 4}" class="axis"/><text x="{px(position):.1f}" '
            f'y="{top + plot_h + 17}" text-anchor="middle" class="tick">{_e(text)}</text>'
        )
    for s in series:
        for i, count in enumerate(s.counts):
            if count <= 0:
                continue
            x0, x1 = px(edges[i]) + 0.5, px(edges[i + 1]) - 0.5
            tip = f"{s.name}: {_int(count)} in {bin_text(edges[i], edges[i + 1])}"
            parts.append(
                f'<rect x="{x0:.1f}" y="{py(count):.1f}" width="{max(x1 - x0, 1):.1f}" '
                f'height="{top + plot_h - py(count):.1f}" fill="{s.color}" '
                f'fill-opacity="{s.opacity}"><title>{_e(tip)}</title></rect>'
            )
    if marker is not None and lo <= marker[0] <= hi:
        x = px(marker[0])
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + plot_h}" class="marker"/>'
            f'<text x="{x - 4:.1f}" y="{top + 8}" text-anchor="end" class="marker-label">'
            f"{_e(marker[1])}</text>"
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'class="axis"/><text x="{left + plot_w / 2:.1f}" y="{height - 6}" '
        f'text-anchor="middle" class="axis-label">{_e(x_label)}</text>'
        f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" class="axis-label">{_e(y_label)}</text></svg>'
    )
    return "".join(parts)


# ---------------------------------------------------------------------------------------
# The page


@dataclass
class _Run:
    """Everything the sections read: the manifest and the two tables (None when absent)."""

    manifest: dict
    docs: _Rows | None
    rejected: _Rows | None
    colors: dict[str, str]

    def stage_settings(self, stage: str) -> dict:
        stages = (self.manifest.get("config") or {}).get("stages") or {}
        return stages.get(stage) or {}

    def color(self, source: str) -> str:
        return self.colors.get(source, SOURCE_COLORS[-1])


def _sampled_note(rows: _Rows | None, what: str) -> str:
    if rows is None or rows.sample is None or rows.sample.complete:
        return ""
    s = rows.sample
    return _note(
        f"{_e(what)}: from {_int(s.rows)} of {_int(s.total_rows)} rows "
        f"({_pct(s.rows, s.total_rows)}), scaled to the whole run (≈)."
    )


def _flatten(value, prefix: str) -> list[tuple[str, str]]:
    """Nested settings -> (dotted.key, JSON value) pairs, sorted."""
    if isinstance(value, dict) and value:
        return [
            pair
            for key in sorted(value, key=str)
            for pair in _flatten(value[key], f"{prefix}.{key}")
        ]
    return [(prefix, json.dumps(value, ensure_ascii=False))]


def _headline(run: _Run) -> str:
    """Records by outcome (overall and per input), tokens, shards, configuration -> HTML."""
    m = run.manifest
    records = m.get("records") or {}
    if not records:
        return _no_data("the manifest has no records section")
    read, kept = records.get("read", 0), records.get("kept", 0)
    dropped, dead = records.get("dropped", 0), records.get("dead_lettered", 0)
    balanced = bool(records.get("balanced"))
    tokens = m.get("tokens") or {}
    shards = tokens.get("shards") or []
    cards = [
        ("records read", _int(read), ""),
        ("kept", _int(kept), _pct(kept, read)),
        ("dropped", _int(dropped), _pct(dropped, read)),
        ("dead-lettered", _int(dead), _pct(dead, read)),
        ("accounting", "balanced" if balanced else "NOT balanced", "read = kept+dropped+dead"),
        ("tokens", _int(tokens.get("tokens", 0)), f"seq_len {tokens.get('seq_len', '?')}"),
        ("rows", _int(tokens.get("rows", 0)), f"{_int(tokens.get('rows_per_shard', 0))}/shard"),
        ("shards", _int(len(shards)), f"dp world size {tokens.get('dp_world_size', '?')}"),
    ]
    card_html = "".join(
        f'<div class="card{" bad" if k == "accounting" and not balanced else ""}">'
        f'<div class="k">{_e(k)}</div><div class="v">{_e(v)}</div>'
        f'<div class="s">{_e(s)}</div></div>'
        for k, v, s in cards
    )
    verdict = (
        '<b class="ok">holds</b>'
        if balanced
        else '<b class="bad">does NOT hold: records went missing or were counted twice</b>'
    )
    config = m.get("config") or {}
    inputs = m.get("inputs") or []
    text = _p(
        f"{_int(read)} records read from {len(inputs)} input files: {_int(kept)} kept "
        f"({_pct(kept, read)}), {_int(dropped)} dropped ({_pct(dropped, read)}), {_int(dead)} "
        f"dead-lettered ({_pct(dead, read)}). The identity read = kept + dropped + "
        f"dead-lettered {verdict}."
    )
    if tokens:
        text += _p(
            f"{_int(tokens.get('tokens', 0))} tokens in {_int(tokens.get('rows', 0))} rows of "
            f"{_e(tokens.get('seq_len', '?'))} tokens, {_plural(len(shards), 'shard')} of "
            f"{_int(tokens.get('rows_per_shard', 0))} rows for a data-parallel world size of "
            f"{_e(tokens.get('dp_world_size', '?'))}. Output: <code>"
            f"{_e(config.get('output', '?'))}</code>."
        )
    bars = [
        Bar(
            "all inputs",
            [
                (kept, KEPT, f"kept {_int(kept)}"),
                (dropped, DROPPED, f"dropped {_int(dropped)}"),
                (dead, DEAD, f"dead-lettered {_int(dead)}"),
            ],
            f"{_int(read)} read",
        )
    ]
    for entry in inputs:
        n_dropped = sum((entry.get("dropped") or {}).values())
        bars.append(
            Bar(
                f"{entry.get('source', '?')}: {os.path.basename(str(entry.get('file', '?')))}",
                [
                    (entry.get("kept", 0), KEPT, f"kept {_int(entry.get('kept', 0))}"),
                    (n_dropped, DROPPED, f"dropped {_int(n_dropped)}"),
                    (entry.get("dead_lettered", 0), DEAD, "dead-lettered"),
                ],
                f"{_int(entry.get('read', 0))} read, "
                f"{_pct(entry.get('kept', 0), entry.get('read', 0))} kept",
            )
        )
    plot = _legend([("kept", KEPT), ("dropped", DROPPED), ("dead-lettered", DEAD)]) + _bar_chart(
        bars, title="Records read per input file, by outcome", x_label="records"
    )
    input_rows = [
        (
            e.get("source", ""),
            e.get("file", ""),
            _int(e.get("read", 0)),
            _int(e.get("kept", 0)),
            _int(sum((e.get("dropped") or {}).values())),
            _int(e.get("dead_lettered", 0)),
        )
        for e in inputs
    ]
    tokenizer = m.get("tokenizer") or {}
    settings = [
        ("output", config.get("output", "?")),
        (
            "seq_len / dp_world_size",
            f"{config.get('seq_len', '?')} / {config.get('dp_world_size', '?')}",
        ),
        ("pack_tail", config.get("pack_tail", "?")),
        (
            "tokenizer",
            config.get("tokenizer")
            or f"trained, vocab_size {config.get('vocab_size', '?')} requested, "
            f"{tokenizer.get('vocab_size', '?')} learned",
        ),
        ("tokenizer sha256", tokenizer.get("sha256", "?")),
        ("write_rejected", json.dumps(config.get("write_rejected"))),
        ("code_sources", ", ".join(map(str, config.get("code_sources") or [])) or "none"),
    ]
    stage_settings = _flatten(config.get("stages") or {}, "stages")
    settings += stage_settings or [("stages", "all defaults")]
    shard_rows = [
        (
            s.get("path", ""),
            _int(s.get("rows", 0)),
            _int(s.get("tokens", 0)),
            str(s.get("sha256", ""))[:16],
        )
        for s in shards[:8]
    ]
    more = f"<p class='note'>… and {len(shards) - 8} more shards.</p>" if len(shards) > 8 else ""
    return (
        f'<div class="cards">{card_html}</div>{text}{plot}'
        + _table(
            ["source", "file", "read", "kept", "dropped", "dead-lettered"], input_rows, (2, 3, 4, 5)
        )
        + "<h3>Configuration</h3>"
        + _table(["setting", "value"], settings)
        + _note("Stage settings not listed are the defaults documented in transforms/.")
        + (
            "<h3>Token shards</h3>"
            + _table(["path", "rows", "tokens", "sha256"], shard_rows, (1, 2))
            + more
            if shards
            else ""
        )
    )


def _funnel(run: _Run) -> str:
    """Documents in and out of every stage, then the tokens they become -> HTML."""
    m = run.manifest
    stages = m.get("stages") or []
    records = m.get("records") or {}
    if not stages:
        return _no_data("the manifest lists no stages")
    read, dead = records.get("read", stages[0].get("in", 0)), records.get("dead_lettered", 0)
    bars = [
        Bar(
            "records read",
            [
                (read - dead, KEPT, f"readable {_int(read - dead)}"),
                (dead, DEAD, f"dead-lettered {_int(dead)}"),
            ],
            f"{_int(read)} → {_int(read - dead)}"
            + (f" (−{_int(dead)} dead-lettered)" if dead else ""),
        )
    ]
    rows = []
    for stage in stages:
        n_in, n_out = stage.get("in", 0), stage.get("out", 0)
        gone = n_in - n_out
        bars.append(
            Bar(
                str(stage.get("stage", "?")),
                [(n_out, KEPT, f"out {_int(n_out)}"), (gone, DROPPED, f"dropped {_int(gone)}")],
                f"{_int(n_in)} → {_int(n_out)}"
                + (f" (−{_int(gone)}, {_pct(gone, n_in)})" if gone else ""),
            )
        )
        rows.append(
            (stage.get("stage", "?"), _int(n_in), _int(n_out), _int(gone), _pct(gone, n_in))
        )
    plot = _legend(
        [("passed on", KEPT), ("dropped", DROPPED), ("dead-lettered", DEAD)]
    ) + _bar_chart(bars, title="Documents in and out of each stage", x_label="documents")
    kept = stages[-1].get("out", 0)
    text = _p(
        f"{_int(read)} records read; {_int(kept)} documents leave the last stage "
        f"({_pct(kept, read)} of records read)."
    )
    tokens = m.get("tokens") or {}
    balance = m.get("balance") or {}
    token_html = ""
    if tokens:
        token_bars = []
        if balance.get("available_tokens") is not None:
            token_bars.append(
                Bar(
                    "curated documents",
                    [(balance["available_tokens"], TARGET, "before balancing")],
                    f"{_int(balance['available_tokens'])} tokens before balancing",
                )
            )
        doc_tokens = tokens.get("document_tokens", 0)
        token_bars.append(
            Bar(
                "into the shards",
                [(doc_tokens, ACCENT, "document tokens with copies")],
                f"{_int(doc_tokens)} tokens in {_int(tokens.get('documents', 0))} document copies",
            )
        )
        token_bars.append(
            Bar(
                "packed rows",
                [(tokens.get("tokens", 0), KEPT, "packed tokens")],
                f"{_int(tokens.get('tokens', 0))} tokens = {_int(tokens.get('rows', 0))} rows",
            )
        )
        token_html = _bar_chart(token_bars, title="Tokens at the end", x_label="tokens") + _p(
            f"At the end: {_int(doc_tokens)} document tokens (end-of-text included, each balance "
            f"copy counted) packed into {_int(tokens.get('rows', 0))} rows of "
            f"{_e(tokens.get('seq_len', '?'))} = {_int(tokens.get('tokens', 0))} tokens; "
            f"{_int(tokens.get('tail_tokens_dropped', 0))} tail tokens dropped, "
            f"{_int(tokens.get('pad_tokens', 0))} pad tokens, "
            f"{_int(tokens.get('rows_dropped_for_equal_shards', 0))} rows left out to give every "
            "shard the same number of rows."
        )
    table = _table(["stage", "in", "out", "dropped", "dropped %"], rows, (1, 2, 3, 4))
    return text + plot + table + "<h3>Tokens</h3>" + (token_html or _no_data("no tokens section"))


def _drops_by_source(manifest: dict) -> dict[tuple[str, str], dict[str, int]]:
    """(stage, reason) -> {source: dropped} from the manifest's per-input counts."""
    out: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry in manifest.get("inputs") or []:
        for key, n in (entry.get("dropped") or {}).items():
            stage, _, reason = key.partition("/")
            out[(stage, reason)][entry.get("source", "?")] += n
    return out


def _sources(run: _Run) -> list[str]:
    return sorted(run.colors)


def _drop_reasons(run: _Run) -> str:
    """Every (stage, reason) drop count, largest first, and per source -> HTML."""
    m = run.manifest
    stages = m.get("stages")
    if not stages:
        return _no_data("the manifest lists no stages")
    read = (m.get("records") or {}).get("read", 0)
    dead = (m.get("records") or {}).get("dead_lettered", 0)
    drops = [
        (n, str(s.get("stage", "?")), str(reason))
        for s in stages
        for reason, n in (s.get("dropped") or {}).items()
        if n
    ]
    drops.sort(key=lambda d: (-d[0], d[1], d[2]))
    if not drops and not dead:
        return _p("No document was dropped and nothing was dead-lettered.")
    bars = [
        Bar(
            f"{stage} / {reason}",
            [(n, DROPPED, f"{stage}/{reason}: {_int(n)}")],
            f"{_int(n)} ({_pct(n, read)} of read)",
        )
        for n, stage, reason in drops
    ]
    if dead:
        bars.append(
            Bar(
                "read / dead-lettered",
                [(dead, DEAD, "unreadable input")],
                f"{_int(dead)} ({_pct(dead, read)} of read)",
            )
        )
    total = sum(d[0] for d in drops)
    top = drops[0] if drops else None
    text = _p(
        f"{_int(total)} documents dropped for {len(drops)} reasons ({_pct(total, read)} of "
        f"{_int(read)} records read)"
        + (
            f"; the largest is {_e(top[1])} / {_e(top[2])} with {_int(top[0])} "
            f"({_pct(top[0], total)} of drops)"
            if top
            else ""
        )
        + (f"; {_int(dead)} more records were unreadable (dead_letter/)." if dead else ".")
    )
    by_source = _drops_by_source(m)
    sources = _sources(run)
    rows = [
        (
            stage,
            reason,
            _int(n),
            _pct(n, read),
            *(_int(by_source[(stage, reason)].get(s, 0)) for s in sources),
        )
        for n, stage, reason in drops
    ]
    numeric = tuple(range(2, 4 + len(sources)))
    return (
        text
        + _bar_chart(bars, title="Drop reasons, largest first", x_label="documents dropped")
        + _table(["stage", "reason", "dropped", "% of read", *sources], rows, numeric)
    )


def _weighted_counts(labels: np.ndarray, weight: float, mask: np.ndarray | None = None) -> dict:
    """Labels (optionally masked) -> {label: count x weight}."""
    chosen = labels if mask is None else labels[mask]
    values, counts = np.unique(chosen.astype(str), return_counts=True) if len(chosen) else ([], [])
    return {str(v): float(c) * weight for v, c in zip(values, counts, strict=True)}


def _top(counts: dict[str, float], limit: int) -> list[tuple[str, float]]:
    """{label: count} -> the `limit` largest, the rest folded into one "other" entry."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ordered) <= limit:
        return ordered
    rest = ordered[limit - 1 :]
    return [*ordered[: limit - 1], (f"other ({len(rest)} values)", sum(v for _, v in rest))]


def _languages(run: _Run) -> str:
    """Kept documents by `lang`, and the language-ID drops by language -> HTML."""
    docs = run.docs
    if docs is None or not docs.n:
        return _no_data("no kept documents to read")
    approx = docs.weight != 1.0
    counts = _weighted_counts(docs.lang, docs.weight)
    total = sum(counts.values())
    top = _top(counts, 12)
    bars = [
        Bar(lang, [(n, KEPT, f"{lang}: {_int(n)}")], f"{_count(n, approx)} ({_pct(n, total)})")
        for lang, n in top
    ]
    settings = {
        **{"languages": LanguageConfig().languages, "min_score": LanguageConfig().min_score},
        **run.stage_settings(LANG_STAGE),
    }
    languages = settings.get("languages")
    text = _p(
        f"{len(counts)} values of <code>lang</code> among {_count(total, approx)} kept documents; "
        f"the most common is {_e(top[0][0])} ({_pct(top[0][1], total)}). Language ID keeps "
        f"{_e(', '.join(languages) if languages else 'every language')} with lid.score ≥ "
        f"{_e(settings.get('min_score'))}; code sources skip it, and their <code>lang</code> "
        "is the programming language."
    )
    per_lang_sources = defaultdict(dict)
    for lang in counts:
        mask = docs.lang.astype(str) == lang
        per_lang_sources[lang] = _weighted_counts(docs.source, docs.weight, mask)
    rows = [
        (
            lang,
            _count(n, approx),
            _pct(n, total),
            ", ".join(
                f"{s} {_int(c)}"
                for s, c in sorted(per_lang_sources.get(lang, {}).items(), key=lambda kv: -kv[1])
            ),
        )
        for lang, n in top
        if lang in counts
    ]
    out = (
        text
        + _sampled_note(docs, "kept documents")
        + _bar_chart(bars, title="Kept documents by language", x_label="kept documents")
    )
    out += _table(["lang", "kept", "share", "by source"], rows, (1, 2))
    stage = next(
        (s for s in run.manifest.get("stages") or [] if s.get("stage") == LANG_STAGE), None
    )
    exact = (stage or {}).get("dropped", {}).get(DROP_LANG, 0)
    out += "<h3>Dropped by language ID</h3>"
    if stage is None:
        return out + _no_data("no lang stage in this run")
    rej = run.rejected
    if rej is None:
        return (
            out
            + _p(f"{_plural(exact, 'document')} dropped by the lang stage.")
            + _no_data("no rejected/ output (write_rejected false) to break them down")
        )
    mask = (rej.stage.astype(str) == LANG_STAGE) & (rej.reason.astype(str) == DROP_LANG)
    dropped = _weighted_counts(rej.lang, rej.weight, mask)
    if not dropped:
        return out + _no_data(
            f"no documents dropped by language ID ({_int(exact)} in the manifest)"
        )
    out += _p(
        f"{_plural(exact, 'document')} dropped by the lang stage (manifest), by the language "
        "they were identified as:"
    )
    approx = rej.weight != 1.0
    dropped_total = sum(dropped.values())
    bars = [
        Bar(
            lang,
            [(n, DROPPED, f"{lang}: {_int(n)}")],
            f"{_count(n, approx)} ({_pct(n, dropped_total)})",
        )
        for lang, n in _top(dropped, 12)
    ]
    return (
        out
        + _sampled_note(rej, "rejected documents")
        + _bar_chart(
            bars,
            title="Documents dropped by language ID, by identified language",
            x_label="dropped documents",
        )
    )


def _decade_label(power: int) -> str:
    """10**power as axis text: 1, 10, 100, 1k, ..."""
    return _short(10.0**power) if power >= 0 else f"1e{power}"


def _lengths(run: _Run) -> str:
    """Character-length histograms before (kept + rejected) and after (kept) -> HTML."""
    docs, rej = run.docs, run.rejected
    if docs is None or docs.chars is None or not docs.n:
        return _no_data("no kept documents with text to measure")
    after_values, after_weights = docs.chars, np.full(docs.n, docs.weight)
    after_sources = docs.source.astype(str)
    has_before = rej is not None and rej.chars is not None
    if has_before:
        before_values = np.concatenate([docs.chars, rej.chars])
        before_weights = np.concatenate([after_weights, np.full(rej.n, rej.weight)])
        before_sources = np.concatenate([after_sources, rej.source.astype(str)])
    else:
        before_values, before_weights, before_sources = after_values, after_weights, after_sources
    logs_before = np.log10(np.maximum(before_values, 1))
    logs_after = np.log10(np.maximum(after_values, 1))
    lo = math.floor(logs_before.min())
    hi = max(math.ceil(logs_before.max() + 1e-9), lo + 1)
    edges = np.linspace(lo, hi, (hi - lo) * 8 + 1)
    ticks = [(p, _decade_label(p)) for p in range(lo, hi + 1)]

    def bin_text(a: float, b: float) -> str:
        return f"{_int(10**a)}–{_int(10**b)} characters"

    totals = defaultdict(float)
    for source, w in zip(before_sources, before_weights, strict=True):
        totals[source] += w
    ordered = sorted(totals, key=lambda s: (-totals[s], s))
    shown = ordered if len(ordered) <= 6 else ordered[:5]
    groups = [("all sources", None, KEPT)] + [(s, [s], run.color(s)) for s in shown]
    if len(ordered) > len(shown):
        groups.append(("other sources", ordered[5:], SOURCE_COLORS[-1]))

    def panel(name: str, members, color: str, width: int) -> str:
        b_mask = (
            np.ones(len(logs_before), bool) if members is None else np.isin(before_sources, members)
        )
        a_mask = (
            np.ones(len(logs_after), bool) if members is None else np.isin(after_sources, members)
        )
        after = np.histogram(logs_after[a_mask], edges, weights=after_weights[a_mask])[0]
        series = []
        if has_before:
            before = np.histogram(logs_before[b_mask], edges, weights=before_weights[b_mask])[0]
            series.append(Series("before (kept + rejected)", before, BEFORE))
        series.append(Series("after (kept)", after, color, 0.9))
        return _histogram(
            series,
            edges,
            title=name,
            ticks=ticks,
            x_label="characters (log scale)",
            width=width,
            height=220 if members is None else 190,
            bin_text=bin_text,
        )

    plots = panel(*groups[0], WIDTH)
    small = "".join(
        f"<div>{panel(name, members, color, 470)}</div>" for name, members, color in groups[1:]
    )
    approx = docs.weight != 1.0 or (has_before and rej.weight != 1.0)
    rows = []
    for name, members, _ in groups:
        b_mask = (
            np.ones(len(before_values), bool)
            if members is None
            else np.isin(before_sources, members)
        )
        a_mask = (
            np.ones(len(after_values), bool) if members is None else np.isin(after_sources, members)
        )
        b_n, a_n = before_weights[b_mask].sum(), after_weights[a_mask].sum()
        b_med = _weighted_quantiles(before_values[b_mask], before_weights[b_mask], [0.5])[0]
        a10, a50, a90 = _weighted_quantiles(
            after_values[a_mask], after_weights[a_mask], [0.1, 0.5, 0.9]
        )
        b_chars = float((before_values[b_mask] * before_weights[b_mask]).sum())
        a_chars = float((after_values[a_mask] * after_weights[a_mask]).sum())
        rows.append(
            (
                name,
                _count(b_n, approx),
                _count(a_n, approx),
                _pct(a_n, b_n),
                _int(b_med) if b_n else "–",
                _int(a50) if a_n else "–",
                f"{_int(a10)} – {_int(a90)}" if a_n else "–",
                _pct(a_chars, b_chars),
            )
        )
    all_row = rows[0]
    legend = [("before: kept + rejected", BEFORE)] if has_before else []
    legend += [("after: kept (colour of the source)", KEPT)]
    text = _p(
        f"Median length {all_row[4]} characters before filtering and {all_row[5]} after; 80% of "
        f"kept documents have {all_row[6]} characters. {all_row[7]} of the characters that "
        "entered the pipeline are in kept documents (kept text is after PII redaction; "
        "balance copies are not counted)."
    )
    if has_before:
        downsampled = np.count_nonzero(rej.reason.astype(str) == DROP_DOWNSAMPLED) * rej.weight
        if downsampled:
            text += _note(
                f"{_count(downsampled, rej.weight != 1.0)} of the removed documents were not "
                f"filtered out but downsampled by balancing ({DROP_DOWNSAMPLED}): they count "
                "as removed here."
            )
    if not has_before:
        text += _note("rejected/ was not written: only the kept documents are shown.")
    table = _table(
        [
            "source",
            "before",
            "after",
            "kept %",
            "median before",
            "median after",
            "p10 – p90 after",
            "chars kept",
        ],
        rows,
        (1, 2, 3, 4, 5, 6, 7),
    )
    return (
        text
        + _sampled_note(docs, "kept documents")
        + _sampled_note(rej, "rejected documents")
        + _legend(legend)
        + plots
        + f'<div class="grid2">{small}</div>'
        + table
    )


def _near_dedup(run: _Run) -> str:
    """near_dedup drops per source against the documents reaching the stage -> HTML."""
    m = run.manifest
    names = [str(s.get("stage")) for s in m.get("stages") or []]
    settings = {"threshold": NearDedupConfig().threshold, "num_perm": NearDedupConfig().num_perm}
    settings.update(
        {k: v for k, v in run.stage_settings(NEAR_DEDUP_STAGE).items() if k in settings}
    )
    if NEAR_DEDUP_STAGE not in names:
        return _no_data("no near_dedup stage in this run")
    earlier = set(names[: names.index(NEAR_DEDUP_STAGE)])
    reached, near, exact = defaultdict(int), defaultdict(int), defaultdict(int)
    for entry in m.get("inputs") or []:
        source = entry.get("source", "?")
        drops = entry.get("dropped") or {}
        before = sum(n for k, n in drops.items() if k.partition("/")[0] in earlier)
        reached[source] += entry.get("read", 0) - entry.get("dead_lettered", 0) - before
        near[source] += sum(n for k, n in drops.items() if k.partition("/")[0] == NEAR_DEDUP_STAGE)
        exact[source] += sum(n for k, n in drops.items() if k.startswith("exact_dedup/"))
    stage = m["stages"][names.index(NEAR_DEDUP_STAGE)]
    total = sum((stage.get("dropped") or {}).values())
    text = _p(
        f"{_int(total)} of {_int(stage.get('in', 0))} documents "
        f"({_pct(total, stage.get('in', 0))}) "
        f"reaching near-dedup were dropped as near duplicates ({_e(DROP_NEAR_DUP)}; MinHash "
        f"LSH at Jaccard ≥ {_e(settings['threshold'])}, {_e(settings['num_perm'])} "
        "permutations), after exact dedup removed "
        f"{_int(sum(exact.values()))}."
    )
    if not reached:
        return text + _no_data("the manifest has no per-input counts") + _cluster_sizes(run)
    sources = sorted(reached, key=lambda s: (-near[s], s))
    bars = [
        Bar(
            s,
            [(near[s], run.color(s), f"{s}: {_int(near[s])} near duplicates")],
            f"{_int(near[s])} ({_pct(near[s], reached[s])} of {_int(reached[s])})",
        )
        for s in sources
    ]
    rows = [
        (
            s,
            _int(reached[s]),
            _int(exact[s]),
            _int(near[s]),
            _pct(near[s], reached[s]),
        )
        for s in sources
    ]
    return (
        text
        + _bar_chart(
            bars,
            title="Near duplicates dropped per source",
            x_label="documents dropped as near duplicates",
        )
        + _table(
            ["source", "reaching near_dedup", "exact_dup (before)", "near_dup", "near_dup rate"],
            rows,
            (1, 2, 3, 4),
        )
        + _cluster_sizes(run)
    )


# Cluster sizes (documents per near-duplicate cluster, its survivor included) as chart rows.
CLUSTER_SIZE_BUCKETS = ((2, 2), (3, 3), (4, 5), (6, 10), (11, 100), (101, None))


def _cluster_sizes(run: _Run) -> str:
    """Near-duplicate clusters that lost documents, by size, from the `duplicate_of` of the
    rejected near_dup rows (each names its cluster's survivor) -> HTML."""
    rej = run.rejected
    if rej is None:
        return _no_data("cluster sizes need rejected/ (written unless --write_rejected=false)")
    mask = (rej.reason == DROP_NEAR_DUP) & (rej.duplicate_of != "(none)")
    drops = Counter(rej.duplicate_of[mask].tolist())
    if not drops:
        return _no_data("no rejected near_dup rows name their survivor")
    sizes = Counter(n + 1 for n in drops.values())
    bars = []
    for low, high in CLUSTER_SIZE_BUCKETS:
        clusters = sum(c for n, c in sizes.items() if n >= low and (high is None or n <= high))
        label = str(low) if low == high else f"{low}+" if high is None else f"{low}-{high}"
        bars.append(Bar(label, [(clusters, ACCENT, f"{label}: {clusters}")], _int(clusters)))
    largest = drops.most_common(5)
    clusters = "cluster" if len(drops) == 1 else "clusters"
    text = _p(
        f"{_int(len(drops))} near-duplicate {clusters} lost documents: each keeps one survivor "
        f"and drops the rest. The largest holds {_int(largest[0][1] + 1)} documents."
    )
    sampled = ""
    if rej.sample is not None and not rej.sample.complete:
        sampled = _note(
            f"From {_int(rej.sample.rows)} of {_int(rej.sample.total_rows)} rejected rows: "
            "clusters and their sizes are at least these."
        )
    return (
        "<h3>Cluster sizes</h3>"
        + text
        + sampled
        + _bar_chart(bars, title="Clusters by size", x_label="near-duplicate clusters")
        + _table(
            ["survivor (documents/ id)", "documents in its cluster"],
            [(survivor, _int(n + 1)) for survivor, n in largest],
            (1,),
        )
    )


def _pii(run: _Run) -> str:
    """PII spans by entity type and documents with any PII, per source -> HTML."""
    docs = run.docs
    settings = {
        "mode": PiiConfig().mode,
        "max_hits": PiiConfig().max_hits,
        **run.stage_settings(PII_STAGE),
    }
    stage = next((s for s in run.manifest.get("stages") or [] if s.get("stage") == PII_STAGE), {})
    pii_dropped = (stage.get("dropped") or {}).get(DROP_PII, 0)
    if docs is None or not docs.n:
        return _no_data("no kept documents to read")
    hits = docs.score(PII_HITS)
    scored = ~np.isnan(hits)
    if not scored.any():
        return _no_data("kept documents carry no pii.* scores")
    approx = docs.weight != 1.0
    w = docs.weight
    types = [k for k in docs.keys_with_prefix(PII_PREFIX) if k != PII_HITS]
    sums = {}
    for key in types:
        values = docs.score(key)
        sums[key[len(PII_PREFIX) :]] = (np.nansum(values) * w, np.count_nonzero(values > 0) * w)
    with_pii = np.count_nonzero(hits > 0) * w
    n_scored = np.count_nonzero(scored) * w
    spans = np.nansum(hits) * w
    text = _p(
        f"{_count(with_pii, approx)} of {_count(n_scored, approx)} kept documents "
        f"({_pct(with_pii, n_scored)}) had PII, {_count(spans, approx)} spans in all, "
        f"redacted in <code>{_e(settings.get('mode'))}</code> mode; {_int(pii_dropped)} documents "
        f"with more than {_e(settings.get('max_hits'))} spans were dropped (reason "
        f"{_e(DROP_PII)})."
    )
    out = text + _sampled_note(docs, "kept documents")
    if sums:
        ordered = sorted(sums.items(), key=lambda kv: (-kv[1][0], kv[0]))
        bars = [
            Bar(
                t,
                [(n, ACCENT, f"{t}: {_int(n)} spans")],
                f"{_count(n, approx)} span{'' if n == 1 else 's'} in {_count(d, approx)} "
                f"document{'' if d == 1 else 's'}",
            )
            for t, (n, d) in ordered
        ]
        out += _bar_chart(
            bars,
            title="PII spans in kept documents by entity type",
            x_label="spans (sum of pii.<TYPE>)",
        )
    else:
        out += _no_data("no PII entity found in the kept documents")
    rows = []
    sources = docs.source.astype(str)
    for s in sorted(set(sources)):
        mask = sources == s
        n = np.count_nonzero(mask & scored) * w
        k = np.count_nonzero(mask & (hits > 0)) * w
        rows.append(
            (
                s,
                _count(n, approx),
                _count(k, approx),
                _pct(k, n),
                _count(np.nansum(hits[mask]) * w, approx),
            )
        )
    return out + _table(
        ["source", "kept documents", "with PII", "share", "spans"], rows, (1, 2, 3, 4)
    )


def _logit(p: np.ndarray | float) -> np.ndarray | float:
    """Probabilities -> log-odds, clipped to [1e-5, 1 - 1e-5] first."""
    p = np.clip(p, 1e-5, 1 - 1e-5)
    return np.log(p / (1 - p))


def _toxicity(run: _Run) -> str:
    """toxicity.max of kept and of toxic-dropped documents against the threshold -> HTML."""
    settings = run.stage_settings(TOXICITY_STAGE)
    if "threshold" in settings:
        threshold = settings["threshold"]
        origin = (
            "set in the run's config" if threshold is not None else "disabled in the run's config"
        )
    else:
        threshold, origin = DEFAULT_THRESHOLD, "the default; none set in the config"
    docs, rej = run.docs, run.rejected
    kept = docs.score(TOXICITY_KEY) if docs is not None else np.zeros(0)
    kept_scored = kept[~np.isnan(kept)]
    if rej is not None:
        toxic_mask = rej.reason.astype(str) == DROP_TOXIC
        toxic = rej.score(TOXICITY_KEY)[toxic_mask]
        toxic = toxic[~np.isnan(toxic)]
    else:
        toxic = np.zeros(0)
    stage = next(
        (s for s in run.manifest.get("stages") or [] if s.get("stage") == TOXICITY_STAGE), {}
    )
    dropped = (stage.get("dropped") or {}).get(DROP_TOXIC, 0)
    threshold_text = (
        f"threshold {threshold:g} on <code>{TOXICITY_KEY}</code> ({origin})"
        if threshold is not None
        else f"no threshold ({origin}): documents are scored, not dropped"
    )
    if not len(kept_scored) and not len(toxic):
        return _p(f"Toxicity {threshold_text}; {_int(dropped)} dropped.") + _no_data(
            "no toxicity.max scores in the tables"
        )
    approx = docs is not None and docs.weight != 1.0
    w = docs.weight if docs is not None else 1.0
    q = np.quantile(kept_scored, [0.5, 0.9, 0.99]) if len(kept_scored) else [math.nan] * 3
    high = np.count_nonzero(kept_scored >= 0.5) * w
    over = np.count_nonzero(kept_scored >= threshold) * w if threshold is not None else 0
    unscored = (docs.n - len(kept_scored)) * w if docs is not None else 0
    text = _p(
        f"Toxicity {threshold_text}. {_plural(dropped, 'document')} dropped as toxic. Of the kept "
        f"documents, {_count(len(kept_scored) * w, approx)} were scored (code sources pass "
        f"unscored: {_count(unscored, approx)}): median {q[0]:.2g}, 90th percentile {q[1]:.2g}, "
        f"99th {q[2]:.2g}, highest {kept_scored.max() if len(kept_scored) else math.nan:.2g}; "
        f"{_count(high, approx)} score ≥ 0.5"
        + (f" and {_count(over, approx)} reach the threshold" if threshold is not None else "")
        + "."
    )
    edges = np.linspace(_logit(1e-5), _logit(1 - 1e-5), 47)
    tick_values = [1e-4, 1e-3, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999]
    ticks = [(float(_logit(p)), f"{p:g}") for p in tick_values]
    marker = (
        (float(_logit(threshold)), f"threshold {threshold:g}") if threshold is not None else None
    )

    def bin_text(a: float, b: float) -> str:
        return f"{1 / (1 + math.exp(-a)):.2g}–{1 / (1 + math.exp(-b)):.2g}"

    panels = ""
    for name, values, weight, color in (
        (f"kept ({_int(len(kept_scored) * w)} scored)", kept_scored, w, KEPT),
        (
            f"dropped as {DROP_TOXIC} ({_int(len(toxic) * (rej.weight if rej else 1))})",
            toxic,
            rej.weight if rej else 1.0,
            DROPPED,
        ),
    ):
        if not len(values) and color == DROPPED:
            panels += _no_data(
                f"no documents dropped as {DROP_TOXIC}"
                + ("" if rej is not None else " (no rejected/ output)")
            )
            continue
        counts = np.histogram(_logit(values), edges)[0] * weight
        panels += _histogram(
            [Series(name, counts, color)],
            edges,
            title=name,
            ticks=ticks,
            x_label=f"{TOXICITY_KEY} (logit scale: both ends stretched)",
            marker=marker,
            height=200,
            bin_text=bin_text,
        )
    rows = []
    if docs is not None and len(kept_scored):
        sources = docs.source.astype(str)
        for s in sorted(set(sources)):
            values = kept[(sources == s) & ~np.isnan(kept)]
            if len(values):
                p50, p99 = np.quantile(values, [0.5, 0.99])
                rows.append(
                    (
                        s,
                        _count(len(values) * w, approx),
                        f"{p50:.2g}",
                        f"{p99:.2g}",
                        f"{values.max():.2g}",
                    )
                )
    table = (
        _table(["source", "kept, scored", "median", "p99", "max"], rows, (1, 2, 3, 4))
        if rows
        else ""
    )
    return text + _sampled_note(docs, "kept documents") + panels + table


def _source_mix(run: _Run) -> str:
    """Natural, target and achieved token shares per source (or kept documents per source
    when the run was not balanced) -> HTML."""
    m = run.manifest
    balance = m.get("balance")
    if balance and balance.get("sources"):
        sources = sorted(balance["sources"], key=lambda s: str(s.get("source")))
        natural = defaultdict(float)
        for cell in balance.get("cells") or []:
            natural[str(cell.get("source"))] += cell.get("available_tokens", 0)
        natural_total = sum(natural.values())
        selected_by_source = defaultdict(float)
        for cell in balance.get("cells") or []:
            selected_by_source[str(cell.get("source"))] += cell.get("selected_tokens", 0)
        epochs_by_source = {
            name: selected_by_source[name] / natural[name] for name in natural if natural[name]
        }
        bars = []
        for s in sources:
            name = str(s.get("source", "?"))
            capped = " — capped" if s.get("capped") else ""
            if natural_total:
                share = natural[name] / natural_total
                bars.append(
                    Bar(f"{name} natural", [(share, BEFORE, "natural share")], f"{share:.1%}", 10)
                )
            target, achieved = s.get("target_share", 0), s.get("achieved_share", 0)
            epochs = f", {epochs_by_source[name]:.2f} epochs" if name in epochs_by_source else ""
            bars.append(
                Bar(
                    f"{name} target",
                    [(target, TARGET, "target share")],
                    f"{target:.1%}",
                    0 if natural_total else 10,
                )
            )
            bars.append(
                Bar(
                    f"{name} achieved",
                    [(achieved, run.color(name), "achieved share")],
                    f"{achieved:.2%}{epochs}{capped}",
                )
            )
        worst = max(
            sources, key=lambda s: abs(s.get("achieved_share", 0) - s.get("target_share", 0))
        )
        gap = worst.get("achieved_share", 0) - worst.get("target_share", 0)
        capped_names = [str(s.get("source")) for s in sources if s.get("capped")]
        selected, available = balance.get("selected_tokens", 0), balance.get("available_tokens", 0)
        text = _p(
            f"Balanced to target token shares: {_int(selected)} tokens selected from "
            f"{_int(available)} available ({selected / available if available else math.nan:.2f}× "
            f"overall), at most {_e(balance.get('max_epochs'))} epochs per source. The largest "
            f"gap is {_e(worst.get('source'))}: {gap * 100:+.2f} points. "
            + (f"Capped: {_e(', '.join(capped_names))}." if capped_names else "No source capped.")
            + (
                " Epochs (selected / available tokens): "
                + _e(", ".join(f"{k} {v:.2f}" for k, v in sorted(epochs_by_source.items())))
                + "; above 1 a source's documents are repeated, below 1 it is downsampled."
                if epochs_by_source
                else ""
            )
        )
        notes = balance.get("notes") or []
        notes_html = (
            ("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
            if notes
            else _p("No notes: every target was reached.")
        )
        cells = balance.get("cells") or []
        rows = [
            (
                c.get("source", ""),
                "" if c.get("bucket") is None else c.get("bucket"),
                f"{c.get('target_share', 0):.1%}",
                f"{c.get('achieved_share', 0):.2%}",
                _int(c.get("available_documents", 0)),
                _int(c.get("available_tokens", 0)),
                _int(c.get("selected_tokens", 0)),
                f"{c.get('epochs', 0):.2f}",
                _int(c.get("copies", 0)),
                "yes" if c.get("capped") else "",
            )
            for c in cells
        ]
        return (
            text
            + _legend(
                [
                    ("natural: curated documents before balancing", BEFORE),
                    ("target", TARGET),
                    ("achieved (colour of the source)", KEPT),
                ]
            )
            + _bar_chart(
                bars,
                title="Token share per source: natural, target and achieved",
                x_label="share of tokens",
                tick=lambda v: f"{v:.0%}",
                integer=False,
            )
            + "<h3>Notes</h3>"
            + notes_html
            + _table(
                [
                    "source",
                    "bucket",
                    "target",
                    "achieved",
                    "documents available",
                    "tokens available",
                    "tokens selected",
                    "epochs",
                    "copies",
                    "capped",
                ],
                rows,
                tuple(range(2, 9)),
            )
        )
    inputs = m.get("inputs") or []
    kept = defaultdict(int)
    for entry in inputs:
        kept[str(entry.get("source", "?"))] += entry.get("kept", 0)
    if not kept and run.docs is not None and run.docs.n:
        kept = defaultdict(
            int,
            {
                k: int(round(v))
                for k, v in _weighted_counts(run.docs.source, run.docs.weight).items()
            },
        )
    if not kept:
        return _no_data("no balance section and no per-source counts")
    chars = {}
    docs = run.docs
    if docs is not None and docs.chars is not None and docs.n:
        sources = docs.source.astype(str)
        chars = {s: float(docs.chars[sources == s].sum()) for s in set(sources)}
    total_docs, total_chars = sum(kept.values()), sum(chars.values())
    bars = [
        Bar(
            s,
            [(n, run.color(s), f"{s}: {_int(n)} documents")],
            f"{_int(n)} docs ({_pct(n, total_docs)})"
            + (f", {_pct(chars.get(s, 0), total_chars)} of characters" if chars else ""),
        )
        for s, n in sorted(kept.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    text = _p(
        "No balancing in this run: the mix is the natural one of the curated documents "
        + ("(character shares stand in for token shares)." if chars else "(documents per source).")
    )
    return text + _bar_chart(bars, title="Kept documents per source", x_label="kept documents")


SECTIONS = (
    ("headline", "Headline", _headline),
    ("funnel", "Funnel", _funnel),
    ("drops", "Drop reasons", _drop_reasons),
    ("languages", "Language mix", _languages),
    ("lengths", "Document lengths", _lengths),
    ("near-dedup", "Near-duplicate removal", _near_dedup),
    ("pii", "PII", _pii),
    ("toxicity", "Toxicity", _toxicity),
    ("source-mix", "Source mix against targets", _source_mix),
)

CSS = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d0d7de;--card:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}
main{max-width:1000px;margin:0 auto;padding:24px 20px 64px}
h1{font-size:24px;margin:0 0 2px}h2{font-size:19px;margin:0 0 6px}
h3{font-size:15px;margin:16px 0 4px}
.sub{color:var(--muted);margin:0 0 10px}
nav{font-size:13px;margin:8px 0 4px}nav a{margin-right:14px;color:#0969da;text-decoration:none}
section{border-top:1px solid var(--line);padding:18px 0 14px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:10px;margin:4px 0 10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px 12px}
.card .k{color:var(--muted);font-size:11px;text-transform:uppercase;letter-spacing:.05em}
.card .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.card .s{color:var(--muted);font-size:12px}
.card.bad{border-color:#cf222e;background:#ffebe9}
.ok{color:#1a7f37}.bad{color:#cf222e}
p{margin:6px 0}.note{color:var(--muted);font-size:13px}.nodata{color:var(--muted);font-style:italic}
table{border-collapse:collapse;font-size:13px;margin:10px 0;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
th{border-bottom:1px solid var(--line);font-weight:600}.n{text-align:right}
td{word-break:break-all}td.n{word-break:normal;white-space:nowrap}
pre{background:var(--card);border:1px solid var(--line);padding:8px;font-size:12px;overflow:auto;
max-height:260px}
code{font-size:12.5px}
svg{display:block;max-width:100%;height:auto;margin:6px 0}
svg text{font-size:12px;fill:#1f2328}
svg .tick{fill:var(--muted);font-size:11px}svg .value{fill:#1f2328}
svg .axis-label{fill:var(--muted);font-size:12px}svg .panel-title{font-weight:600;font-size:13px}
svg .grid{stroke:#eaeef2}svg .axis{stroke:#8c959f}
svg .marker{stroke:#cf222e;stroke-width:1.5;stroke-dasharray:5 3}
svg .marker-label{fill:#cf222e;font-size:11px}
.legend{font-size:12px;color:var(--muted);margin:8px 0 0}
.legend span{margin-right:16px;white-space:nowrap}
.legend i{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px;
border-radius:2px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:0 20px}
"""


def build_report(
    manifest: dict,
    documents: pa.Table | None,
    rejected: pa.Table | None,
    *,
    samples: dict[str, Sample] | None = None,
) -> str:
    """A run's manifest and its documents / rejected tables (DOCUMENT_SCHEMA /
    REJECTED_SCHEMA, or `read_sample` output; None when absent) -> the report page (HTML).

    `samples` ({"documents": Sample, "rejected": Sample}) says how much of each table was
    read; without it the tables are taken as complete.
    """
    manifest = manifest or {}
    samples = samples or {}
    docs = _Rows(documents, samples.get("documents")) if documents is not None else None
    rej = _Rows(rejected, samples.get("rejected")) if rejected is not None else None
    names = {str(e.get("source")) for e in manifest.get("inputs") or [] if e.get("source")}
    names |= {str(s.get("source")) for s in (manifest.get("balance") or {}).get("sources") or []}
    for rows in (docs, rej):
        if rows is not None:
            names |= set(rows.source.astype(str))
    colors = {s: SOURCE_COLORS[i % len(SOURCE_COLORS)] for i, s in enumerate(sorted(names))}
    run = _Run(manifest, docs, rej, colors)
    output = (manifest.get("config") or {}).get("output", "")
    body = []
    for anchor, title, render in SECTIONS:
        body.append(_section(anchor, title, render(run)))
    nav = "".join(f'<a href="#{anchor}">{_e(title)}</a>' for anchor, title, _ in SECTIONS)
    reading = []
    for name, rows in (("documents/", docs), ("rejected/", rej)):
        if rows is None:
            reading.append(f"{name}: not present")
        elif rows.sample is not None and not rows.sample.complete:
            s = rows.sample
            reading.append(
                f"{name}: {_int(s.rows)} of {_int(s.total_rows)} rows "
                f"({_pct(s.rows, s.total_rows)}; "
                f"{s.row_groups} of {s.total_row_groups} row groups chosen by a stable hash)"
            )
        else:
            reading.append(f"{name}: all {_int(rows.n)} rows")
    intro = _note(
        "Counts from manifest.json are exact. Per-document figures (languages, lengths, PII, "
        "toxicity) are computed from the tables: " + _e("; ".join(reading)) + "."
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Curate run report: {_e(output)}</title><style>{CSS}</style></head>"
        f'<body><main><h1>Curate run report</h1><p class="sub">{_e(output)}</p>'
        f"<nav>{nav}</nav>{intro}{''.join(body)}</main></body></html>\n"
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m pipelines.report OUTPUT_DIR [--max_rows N]`: write the report, print its path."""
    parser = argparse.ArgumentParser(description="Write report.html for a finished curate run.")
    parser.add_argument("output_dir", help="the run's --output directory")
    parser.add_argument(
        "--max_rows", type=int, default=DEFAULT_MAX_ROWS, help="rows read per table"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    print(write_report(args.output_dir, args.max_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
