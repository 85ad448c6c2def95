"""Document lengths: character-length histograms before and after filtering."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from pipelines.report.charts import BEFORE, KEPT, SOURCE_COLORS, WIDTH, Series, histogram
from pipelines.report.html import (
    color_legend,
    count_text,
    data_table,
    key_paragraph,
    no_data,
    note,
    percent,
    sampled_note,
    short_number,
    thousands,
)
from pipelines.report.sampling import weighted_quantiles
from pipelines.report.section import ReportRun, Section
from transforms.balance import DROP_DOWNSAMPLED


def _decade_label(power: int) -> str:
    """10**power as axis text: 1, 10, 100, 1k, ..."""
    return short_number(10.0**power) if power >= 0 else f"1e{power}"


def render(run: ReportRun) -> str:
    """Character-length histograms before (kept + rejected) and after (kept) -> HTML."""
    docs, rej = run.docs, run.rejected
    if docs is None or docs.chars is None or not docs.n:
        return no_data("no kept documents with text to measure")
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
        return f"{thousands(10**a)}–{thousands(10**b)} characters"

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
        return histogram(
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
        b_med = weighted_quantiles(before_values[b_mask], before_weights[b_mask], [0.5])[0]
        a10, a50, a90 = weighted_quantiles(
            after_values[a_mask], after_weights[a_mask], [0.1, 0.5, 0.9]
        )
        b_chars = float((before_values[b_mask] * before_weights[b_mask]).sum())
        a_chars = float((after_values[a_mask] * after_weights[a_mask]).sum())
        rows.append(
            (
                name,
                count_text(b_n, approx),
                count_text(a_n, approx),
                percent(a_n, b_n),
                thousands(b_med) if b_n else "–",
                thousands(a50) if a_n else "–",
                f"{thousands(a10)} – {thousands(a90)}" if a_n else "–",
                percent(a_chars, b_chars),
            )
        )
    all_row = rows[0]
    legend = [("before: kept + rejected", BEFORE)] if has_before else []
    legend += [("after: kept (colour of the source)", KEPT)]
    text = key_paragraph(
        f"Median length {all_row[4]} characters before filtering and {all_row[5]} after; 80% of "
        f"kept documents have {all_row[6]} characters. {all_row[7]} of the characters that "
        "entered the pipeline are in kept documents (kept text is after PII redaction; "
        "balance copies are not counted)."
    )
    if has_before:
        downsampled = np.count_nonzero(rej.reason.astype(str) == DROP_DOWNSAMPLED) * rej.weight
        if downsampled:
            text += note(
                f"{count_text(downsampled, rej.weight != 1.0)} of the removed documents were not "
                f"filtered out but downsampled by balancing ({DROP_DOWNSAMPLED}): they count "
                "as removed here."
            )
    if not has_before:
        text += note("rejected/ was not written: only the kept documents are shown.")
    table = data_table(
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
        + sampled_note(docs, "kept documents")
        + sampled_note(rej, "rejected documents")
        + color_legend(legend)
        + plots
        + f'<div class="grid2">{small}</div>'
        + table
    )


SECTION = Section("lengths", "Document lengths", render)
