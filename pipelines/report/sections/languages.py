"""Language mix: kept documents by `lang`, and the language-ID drops by language."""

from __future__ import annotations

from collections import defaultdict

from pipelines.report.charts import DROPPED, KEPT, Bar, bar_chart
from pipelines.report.html import (
    count_text,
    data_table,
    escape,
    key_paragraph,
    no_data,
    percent,
    plural,
    sampled_note,
    thousands,
)
from pipelines.report.sampling import weighted_counts
from pipelines.report.section import ReportRun, Section
from transforms.quality.langid import DROP_LANG, LanguageConfig
from transforms.quality.langid import STAGE as LANG_STAGE


def _top(counts: dict[str, float], limit: int) -> list[tuple[str, float]]:
    """{label: count} -> the `limit` largest, the rest folded into one "other" entry."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(ordered) <= limit:
        return ordered
    rest = ordered[limit - 1 :]
    return [*ordered[: limit - 1], (f"other ({len(rest)} values)", sum(v for _, v in rest))]


def render(run: ReportRun) -> str:
    """Kept documents by `lang`, and the language-ID drops by language -> HTML."""
    docs = run.docs
    if docs is None or not docs.n:
        return no_data("no kept documents to read")
    approx = docs.weight != 1.0
    counts = weighted_counts(docs.lang, docs.weight)
    total = sum(counts.values())
    top = _top(counts, 12)
    bars = [
        Bar(
            lang,
            [(n, KEPT, f"{lang}: {thousands(n)}")],
            f"{count_text(n, approx)} ({percent(n, total)})",
        )
        for lang, n in top
    ]
    settings = {
        **{"languages": LanguageConfig().languages, "min_score": LanguageConfig().min_score},
        **run.stage_settings(LANG_STAGE),
    }
    languages = settings.get("languages")
    text = key_paragraph(
        f"{len(counts)} values of <code>lang</code> among {count_text(total, approx)} kept "
        "documents; "
        f"the most common is {escape(top[0][0])} ({percent(top[0][1], total)}). Language ID keeps "
        f"{escape(', '.join(languages) if languages else 'every language')} with lid.score ≥ "
        f"{escape(settings.get('min_score'))}; code sources skip it, and their <code>lang</code> "
        "is the programming language."
    )
    per_lang_sources = defaultdict(dict)
    for lang in counts:
        mask = docs.lang.astype(str) == lang
        per_lang_sources[lang] = weighted_counts(docs.source, docs.weight, mask)
    rows = [
        (
            lang,
            count_text(n, approx),
            percent(n, total),
            ", ".join(
                f"{s} {thousands(c)}"
                for s, c in sorted(per_lang_sources.get(lang, {}).items(), key=lambda kv: -kv[1])
            ),
        )
        for lang, n in top
        if lang in counts
    ]
    out = (
        text
        + sampled_note(docs, "kept documents")
        + bar_chart(bars, title="Kept documents by language", x_label="kept documents")
    )
    out += data_table(["lang", "kept", "share", "by source"], rows, (1, 2))
    stage = next(
        (s for s in run.manifest.get("stages") or [] if s.get("stage") == LANG_STAGE), None
    )
    exact = (stage or {}).get("dropped", {}).get(DROP_LANG, 0)
    out += "<h3>Dropped by language ID</h3>"
    if stage is None:
        return out + no_data("no lang stage in this run")
    rej = run.rejected
    if rej is None:
        return (
            out
            + key_paragraph(f"{plural(exact, 'document')} dropped by the lang stage.")
            + no_data("no rejected/ output (write_rejected false) to break them down")
        )
    mask = (rej.stage.astype(str) == LANG_STAGE) & (rej.reason.astype(str) == DROP_LANG)
    dropped = weighted_counts(rej.lang, rej.weight, mask)
    if not dropped:
        return out + no_data(
            f"no documents dropped by language ID ({thousands(exact)} in the manifest)"
        )
    out += key_paragraph(
        f"{plural(exact, 'document')} dropped by the lang stage (manifest), by the language "
        "they were identified as:"
    )
    approx = rej.weight != 1.0
    dropped_total = sum(dropped.values())
    bars = [
        Bar(
            lang,
            [(n, DROPPED, f"{lang}: {thousands(n)}")],
            f"{count_text(n, approx)} ({percent(n, dropped_total)})",
        )
        for lang, n in _top(dropped, 12)
    ]
    return (
        out
        + sampled_note(rej, "rejected documents")
        + bar_chart(
            bars,
            title="Documents dropped by language ID, by identified language",
            x_label="dropped documents",
        )
    )


SECTION = Section("languages", "Language mix", render)
