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
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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
_CHAR_PX = 6.8  # mean advance of a 12px system-font character, to lay out labels


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
    rejected, rej_sample = read_sample(
        os.path.join(output_dir, "rejected"), [*columns, "stage", "reason"], max_rows
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


def _nice_ticks(top: float, count: int = 5) -> list[float]:
    """0 .. a round number >= top, in about `count` round steps."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
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


def _bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    x_label: str,
    tick: Callable[[float], str] = _short,
    width: int = WIDTH,
) -> str:
    """Horizontal bars (segments stacked left to right) with a value axis -> inline SVG."""
    label_w = int(min(max(max(len(_cut(b.label)) for b in bars) * _CHAR_PX + 16, 70), 320))
    note_w = int(min(max(max(len(b.note) for b in bars) * _CHAR_PX + 14, 40), 330))
    plot_w = width - label_w - note_w - 8
    row_h, bar_h, top = 26, 17, 8
    height = top + row_h * len(bars) + 44
    ticks = _nice_ticks(max(sum(s[0] for s in b.segments) for b in bars))
    scale = plot_w / ticks[-1]
    axis_y = top + row_h * len(bars) + 4
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
        y = top + i * row_h + (row_h - bar_h) / 2
        middle = top + i * row_h + row_h / 2 + 4
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


def _headline(run: _Run) -> str:
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
            f"{_e(tokens.get('seq_len', '?'))} tokens, {len(shards)} shards of "
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
                f"{_int(entry.get('read', 0))} read, {_pct(entry.get('kept', 0), entry.get('read', 0))}"
                " kept",
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
        ("seq_len / dp_world_size", f"{config.get('seq_len', '?')} / {config.get('dp_world_size', '?')}"),
        ("pack_tail", config.get("pack_tail", "?")),
        (
            "tokenizer",
            config.get("tokenizer")
            or f"trained, vocab_size {config.get('vocab_size', '?')} requested, "
            f"{tokenizer.get('vocab_size', '?')} learned",
        ),
        ("tokenizer sha256", tokenizer.get("sha256", "?")),
        ("write_rejected", config.get("write_rejected", "?")),
        ("code_sources", ", ".join(map(str, config.get("code_sources") or [])) or "none"),
    ]
    stage_json = json.dumps(config.get("stages") or {}, indent=1, sort_keys=True)
    shard_rows = [
        (s.get("path", ""), _int(s.get("rows", 0)), _int(s.get("tokens", 0)), str(s.get("sha256", ""))[:16])
        for s in shards[:8]
    ]
    more = f"<p class='note'>… and {len(shards) - 8} more shards.</p>" if len(shards) > 8 else ""
    return (
        f'<div class="cards">{card_html}</div>{text}{plot}'
        + _table(["source", "file", "read", "kept", "dropped", "dead-lettered"], input_rows, (2, 3, 4, 5))
        + "<h3>Configuration</h3>"
        + _table(["setting", "value"], settings)
        + "<p>Stage settings (<code>config.stages</code>; anything not listed is a default):</p>"
        + f"<pre>{_e(stage_json)}</pre>"
        + ("<h3>Token shards</h3>" + _table(["path", "rows", "tokens", "sha256"], shard_rows, (1, 2)) + more if shards else "")
    )


def _funnel(run: _Run) -> str:
    m = run.manifest
    stages = m.get("stages") or []
    records = m.get("records") or {}
    if not stages:
        return _no_data("the manifest lists no stages")
    read, dead = records.get("read", stages[0].get("in", 0)), records.get("dead_lettered", 0)
    bars = [
        Bar(
            "records read",
            [(read - dead, KEPT, f"readable {_int(read - dead)}"), (dead, DEAD, f"dead-lettered {_int(dead)}")],
            f"{_int(read)} → {_int(read - dead)}" + (f" (−{_int(dead)} dead-lettered)" if dead else ""),
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
                f"{_int(n_in)} → {_int(n_out)}" + (f" (−{_int(gone)}, {_pct(gone, n_in)})" if gone else ""),
            )
        )
        rows.append((stage.get("stage", "?"), _int(n_in), _int(n_out), _int(gone), _pct(gone, n_in)))
    plot = _legend([("passed on", KEPT), ("dropped", DROPPED), ("dead-lettered", DEAD)]) + _bar_chart(
        bars, title="Documents in and out of each stage", x_label="documents"
    )
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
                Bar("curated documents", [(balance["available_tokens"], TARGET, "before balancing")],
                    f"{_int(balance['available_tokens'])} tokens before balancing")
            )
        doc_tokens = tokens.get("document_tokens", 0)
        token_bars.append(
            Bar("into the shards", [(doc_tokens, ACCENT, "document tokens with copies")],
                f"{_int(doc_tokens)} tokens in {_int(tokens.get('documents', 0))} document copies")
        )
        token_bars.append(
            Bar("packed rows", [(tokens.get("tokens", 0), KEPT, "packed tokens")],
                f"{_int(tokens.get('tokens', 0))} tokens = {_int(tokens.get('rows', 0))} × {_e(tokens.get('seq_len', '?'))}")
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
        Bar(f"{stage} / {reason}", [(n, DROPPED, f"{stage}/{reason}: {_int(n)}")], f"{_int(n)} ({_pct(n, read)} of read)")
        for n, stage, reason in drops
    ]
    if dead:
        bars.append(Bar("read / dead-lettered", [(dead, DEAD, "unreadable input")], f"{_int(dead)} ({_pct(dead, read)} of read)"))
    total = sum(d[0] for d in drops)
    top = drops[0] if drops else None
    text = _p(
        f"{_int(total)} documents dropped for {len(drops)} reasons ({_pct(total, read)} of "
        f"{_int(read)} records read)"
        + (f"; the largest is {_e(top[1])} / {_e(top[2])} with {_int(top[0])} ({_pct(top[0], total)} of drops)" if top else "")
        + (f"; {_int(dead)} more records were unreadable (dead_letter/)." if dead else ".")
    )
    by_source = _drops_by_source(m)
    sources = _sources(run)
    rows = [
        (stage, reason, _int(n), _pct(n, read), *(_int(by_source[(stage, reason)].get(s, 0)) for s in sources))
        for n, stage, reason in drops
    ]
    numeric = tuple(range(2, 4 + len(sources)))
    return (
        text
        + _bar_chart(bars, title="Drop reasons, largest first", x_label="documents dropped")
        + _table(["stage", "reason", "dropped", "% of read", *sources], rows, numeric)
    )


def _weighted_counts(labels: np.ndarray, weight: float, mask: np.ndarray | None = None) -> dict:
    chosen = labels if mask is None else labels[mask]
    values, counts = np.unique(chosen.astype(str), return_counts=True) if len(chosen) else ([], [])
    return {str(v): float(c) * weight for v, c in zip(values, counts, strict=True)}


def _top(counts: dict[str, float], limit: int) -> list[tuple[str, float]]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ordered) <= limit:
        return ordered
    rest = ordered[limit - 1 :]
    return [*ordered[: limit - 1], (f"other ({len(rest)} values)", sum(v for _, v in rest))]


def _languages(run: _Run) -> str:
    docs = run.docs
    if docs is None or not docs.n:
        return _no_data("no kept documents to read")
    approx = docs.weight != 1.0
    counts = _weighted_counts(docs.lang, docs.weight)
    total = sum(counts.values())
    top = _top(counts, 12)
    bars = [Bar(lang, [(n, KEPT, f"{lang}: {_int(n)}")], f"{_count(n, approx)} ({_pct(n, total)})") for lang, n in top]
    settings = {**{"languages": LanguageConfig().languages, "min_score": LanguageConfig().min_score}, **run.stage_settings(LANG_STAGE)}
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
        (lang, _count(n, approx), _pct(n, total), ", ".join(f"{s} {_int(c)}" for s, c in sorted(per_lang_sources.get(lang, {}).items(), key=lambda kv: -kv[1])))
        for lang, n in top
        if lang in counts
    ]
    out = text + _sampled_note(docs, "kept documents") + _bar_chart(bars, title="Kept documents by language", x_label="kept documents")
    out += _table(["lang", "kept", "share", "by source"], rows, (1, 2))
    stage = next((s for s in run.manifest.get("stages") or [] if s.get("stage") == LANG_STAGE), None)
    exact = (stage or {}).get("dropped", {}).get(DROP_LANG, 0)
    out += "<h3>Dropped by language ID</h3>"
    if stage is None:
        return out + _no_data("no lang stage in this run")
    rej = run.rejected
    if rej is None:
        return out + _p(f"{_int(exact)} documents dropped by the lang stage.") + _no_data("no rejected/ output (write_rejected false) to break them down")
    mask = (rej.stage.astype(str) == LANG_STAGE) & (rej.reason.astype(str) == DROP_LANG)
    dropped = _weighted_counts(rej.lang, rej.weight, mask)
    out += _p(f"{_int(exact)} documents dropped by the lang stage (manifest), by the language they were identified as:")
    if not dropped:
        return out + _no_data("no documents dropped by language ID")
    approx = rej.weight != 1.0
    dropped_total = sum(dropped.values())
    bars = [Bar(lang, [(n, DROPPED, f"{lang}: {_int(n)}")], f"{_count(n, approx)} ({_pct(n, dropped_total)})") for lang, n in _top(dropped, 12)]
    return out + _sampled_note(rej, "rejected documents") + _bar_chart(bars, title="Documents dropped by language ID, by identified language", x_label="dropped documents")


def _decade_label(power: int) -> str:
    return _short(10.0**power) if power >= 0 else f"1e{power}"


def _lengths(run: _Run) -> str:
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
    edges = np.linspace(lo, hi, (hi - lo) * 5 + 1)
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
        b_mask = np.ones(len(logs_before), bool) if members is None else np.isin(before_sources, members)
        a_mask = np.ones(len(logs_after), bool) if members is None else np.isin(after_sources, members)
        after = np.histogram(logs_after[a_mask], edges, weights=after_weights[a_mask])[0]
        series = []
        if has_before:
            before = np.histogram(logs_before[b_mask], edges, weights=before_weights[b_mask])[0]
            series.append(Series("before (kept + rejected)", before, BEFORE))
        series.append(Series("after (kept)", after, color, 0.9))
        return _histogram(
            series, edges, title=name, ticks=ticks, x_label="characters (log scale)",
            width=width, height=220 if members is None else 190, bin_text=bin_text,
        )

    plots = panel(*groups[0], WIDTH)
    small = "".join(f"<div>{panel(name, members, color, 470)}</div>" for name, members, color in groups[1:])
    approx = docs.weight != 1.0 or (has_before and rej.weight != 1.0)
    rows = []
    for name, members, _ in groups:
        b_mask = np.ones(len(before_values), bool) if members is None else np.isin(before_sources, members)
        a_mask = np.ones(len(after_values), bool) if members is None else np.isin(after_sources, members)
        b_n, a_n = before_weights[b_mask].sum(), after_weights[a_mask].sum()
        b_med = _weighted_quantiles(before_values[b_mask], before_weights[b_mask], [0.5])[0]
        a10, a50, a90 = _weighted_quantiles(after_values[a_mask], after_weights[a_mask], [0.1, 0.5, 0.9])
        b_chars = float((before_values[b_mask] * before_weights[b_mask]).sum())
        a_chars = float((after_values[a_mask] * after_weights[a_mask]).sum())
        rows.append((
            name, _count(b_n, approx), _count(a_n, approx), _pct(a_n, b_n),
            _int(b_med) if b_n else "–", _int(a50) if a_n else "–",
            f"{_int(a10)} – {_int(a90)}" if a_n else "–", _pct(a_chars, b_chars),
        ))
    all_row = rows[0]
    legend = [("before: kept + rejected", BEFORE)] if has_before else []
    legend += [("after: kept (colour of the source)", KEPT)]
    text = _p(
        f"Median length {all_row[4]} characters before filtering and {all_row[5]} after; 80% of "
        f"kept documents have {all_row[6]} characters. {all_row[7]} of the characters that "
        "entered the pipeline are in kept documents (kept text is after PII redaction; "
        "balance copies are not counted)."
    )
    if not has_before:
        text += _note("rejected/ was not written: only the kept documents are shown.")
    table = _table(
        ["source", "before", "after", "kept %", "median before", "median after", "p10 – p90 after", "chars kept"],
        rows, (1, 2, 3, 4, 5, 6, 7),
    )
    return (
        text + _sampled_note(docs, "kept documents") + _sampled_note(rej, "rejected documents")
        + _legend(legend) + plots + f'<div class="grid2">{small}</div>' + table
    )
