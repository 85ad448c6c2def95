"""Toxicity: toxicity.max of kept and of toxic-dropped documents against the threshold."""

from __future__ import annotations

import math

import numpy as np

from pipelines.report.charts import DROPPED, KEPT, Series, histogram
from pipelines.report.html import (
    count_text,
    data_table,
    key_paragraph,
    no_data,
    plural,
    sampled_note,
    thousands,
)
from pipelines.report.section import ReportRun, Section
from transforms.toxicity.stage import DEFAULT_THRESHOLD, DROP_TOXIC
from transforms.toxicity.stage import MAX_KEY as TOXICITY_KEY
from transforms.toxicity.stage import STAGE as TOXICITY_STAGE


def _logit(p: np.ndarray | float) -> np.ndarray | float:
    """Probabilities -> log-odds, clipped to [1e-5, 1 - 1e-5] first."""
    p = np.clip(p, 1e-5, 1 - 1e-5)
    return np.log(p / (1 - p))


def render(run: ReportRun) -> str:
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
        return key_paragraph(f"Toxicity {threshold_text}; {thousands(dropped)} dropped.") + no_data(
            "no toxicity.max scores in the tables"
        )
    approx = docs is not None and docs.weight != 1.0
    w = docs.weight if docs is not None else 1.0
    q = np.quantile(kept_scored, [0.5, 0.9, 0.99]) if len(kept_scored) else [math.nan] * 3
    high = np.count_nonzero(kept_scored >= 0.5) * w
    over = np.count_nonzero(kept_scored >= threshold) * w if threshold is not None else 0
    unscored = (docs.n - len(kept_scored)) * w if docs is not None else 0
    text = key_paragraph(
        f"Toxicity {threshold_text}. {plural(dropped, 'document')} dropped as toxic. Of the kept "
        f"documents, {count_text(len(kept_scored) * w, approx)} were scored (code sources pass "
        f"unscored: {count_text(unscored, approx)}): median {q[0]:.2g}, 90th percentile "
        f"{q[1]:.2g}, "
        f"99th {q[2]:.2g}, highest {kept_scored.max() if len(kept_scored) else math.nan:.2g}; "
        f"{count_text(high, approx)} score ≥ 0.5"
        + (f" and {count_text(over, approx)} reach the threshold" if threshold is not None else "")
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
        (f"kept ({thousands(len(kept_scored) * w)} scored)", kept_scored, w, KEPT),
        (
            f"dropped as {DROP_TOXIC} ({thousands(len(toxic) * (rej.weight if rej else 1))})",
            toxic,
            rej.weight if rej else 1.0,
            DROPPED,
        ),
    ):
        if not len(values) and color == DROPPED:
            panels += no_data(
                f"no documents dropped as {DROP_TOXIC}"
                + ("" if rej is not None else " (no rejected/ output)")
            )
            continue
        counts = np.histogram(_logit(values), edges)[0] * weight
        panels += histogram(
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
                        count_text(len(values) * w, approx),
                        f"{p50:.2g}",
                        f"{p99:.2g}",
                        f"{values.max():.2g}",
                    )
                )
    table = (
        data_table(["source", "kept, scored", "median", "p99", "max"], rows, (1, 2, 3, 4))
        if rows
        else ""
    )
    return text + sampled_note(docs, "kept documents") + panels + table


SECTION = Section("toxicity", "Toxicity", render)
