"""PII: spans by entity type, and documents with any PII per source."""

from __future__ import annotations

import numpy as np

from pipelines.report.charts import ACCENT, Bar, bar_chart
from pipelines.report.html import (
    count_text,
    data_table,
    escape,
    key_paragraph,
    no_data,
    percent,
    sampled_note,
    thousands,
)
from pipelines.report.sampling import PII_HITS, PII_PREFIX
from pipelines.report.section import ReportRun, Section
from transforms.pii import DROP_PII, PiiConfig
from transforms.pii import STAGE as PII_STAGE


def render(run: ReportRun) -> str:
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
        return no_data("no kept documents to read")
    hits = docs.score(PII_HITS)
    scored = ~np.isnan(hits)
    if not scored.any():
        return no_data("kept documents carry no pii.* scores")
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
    text = key_paragraph(
        f"{count_text(with_pii, approx)} of {count_text(n_scored, approx)} kept documents "
        f"({percent(with_pii, n_scored)}) had PII, {count_text(spans, approx)} spans in all, "
        f"redacted in <code>{escape(settings.get('mode'))}</code> mode; {thousands(pii_dropped)} "
        "documents "
        f"with more than {escape(settings.get('max_hits'))} spans were dropped (reason "
        f"{escape(DROP_PII)})."
    )
    out = text + sampled_note(docs, "kept documents")
    if sums:
        ordered = sorted(sums.items(), key=lambda kv: (-kv[1][0], kv[0]))
        bars = [
            Bar(
                t,
                [(n, ACCENT, f"{t}: {thousands(n)} spans")],
                f"{count_text(n, approx)} span{'' if n == 1 else 's'} in {count_text(d, approx)} "
                f"document{'' if d == 1 else 's'}",
            )
            for t, (n, d) in ordered
        ]
        out += bar_chart(
            bars,
            title="PII spans in kept documents by entity type",
            x_label="spans (sum of pii.<TYPE>)",
        )
    else:
        out += no_data("no PII entity found in the kept documents")
    rows = []
    sources = docs.source.astype(str)
    for s in sorted(set(sources)):
        mask = sources == s
        n = np.count_nonzero(mask & scored) * w
        k = np.count_nonzero(mask & (hits > 0)) * w
        rows.append(
            (
                s,
                count_text(n, approx),
                count_text(k, approx),
                percent(k, n),
                count_text(np.nansum(hits[mask]) * w, approx),
            )
        )
    return out + data_table(
        ["source", "kept documents", "with PII", "share", "spans"], rows, (1, 2, 3, 4)
    )


SECTION = Section("pii", "PII", render)
