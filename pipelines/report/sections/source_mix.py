"""Source mix: natural, target and achieved token shares per source."""

from __future__ import annotations

import math
from collections import defaultdict

from pipelines.report.charts import BEFORE, KEPT, TARGET, Bar, bar_chart
from pipelines.report.html import (
    color_legend,
    data_table,
    escape,
    key_paragraph,
    no_data,
    percent,
    thousands,
)
from pipelines.report.sampling import weighted_counts
from pipelines.report.section import ReportRun, Section


def render(run: ReportRun) -> str:
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
        text = key_paragraph(
            f"Balanced to target token shares: {thousands(selected)} tokens selected from "
            f"{thousands(available)} available "
            f"({selected / available if available else math.nan:.2f}× "
            f"overall), at most {escape(balance.get('max_epochs'))} epochs per source. The largest "
            f"gap is {escape(worst.get('source'))}: {gap * 100:+.2f} points. "
            + (
                f"Capped: {escape(', '.join(capped_names))}."
                if capped_names
                else "No source capped."
            )
            + (
                " Epochs (selected / available tokens): "
                + escape(", ".join(f"{k} {v:.2f}" for k, v in sorted(epochs_by_source.items())))
                + "; above 1 a source's documents are repeated, below 1 it is downsampled."
                if epochs_by_source
                else ""
            )
        )
        notes = balance.get("notes") or []
        notes_html = (
            ("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
            if notes
            else key_paragraph("No notes: every target was reached.")
        )
        cells = balance.get("cells") or []
        rows = [
            (
                c.get("source", ""),
                "" if c.get("bucket") is None else c.get("bucket"),
                f"{c.get('target_share', 0):.1%}",
                f"{c.get('achieved_share', 0):.2%}",
                thousands(c.get("available_documents", 0)),
                thousands(c.get("available_tokens", 0)),
                thousands(c.get("selected_tokens", 0)),
                f"{c.get('epochs', 0):.2f}",
                thousands(c.get("copies", 0)),
                "yes" if c.get("capped") else "",
            )
            for c in cells
        ]
        return (
            text
            + color_legend(
                [
                    ("natural: curated documents before balancing", BEFORE),
                    ("target", TARGET),
                    ("achieved (colour of the source)", KEPT),
                ]
            )
            + bar_chart(
                bars,
                title="Token share per source: natural, target and achieved",
                x_label="share of tokens",
                tick=lambda v: f"{v:.0%}",
                integer=False,
            )
            + "<h3>Notes</h3>"
            + notes_html
            + data_table(
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
                for k, v in weighted_counts(run.docs.source, run.docs.weight).items()
            },
        )
    if not kept:
        return no_data("no balance section and no per-source counts")
    chars = {}
    docs = run.docs
    if docs is not None and docs.chars is not None and docs.n:
        sources = docs.source.astype(str)
        chars = {s: float(docs.chars[sources == s].sum()) for s in set(sources)}
    total_docs, total_chars = sum(kept.values()), sum(chars.values())
    bars = [
        Bar(
            s,
            [(n, run.color(s), f"{s}: {thousands(n)} documents")],
            f"{thousands(n)} docs ({percent(n, total_docs)})"
            + (f", {percent(chars.get(s, 0), total_chars)} of characters" if chars else ""),
        )
        for s, n in sorted(kept.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    text = key_paragraph(
        "No balancing in this run: the mix is the natural one of the curated documents "
        + ("(character shares stand in for token shares)." if chars else "(documents per source).")
    )
    return text + bar_chart(bars, title="Kept documents per source", x_label="kept documents")


SECTION = Section("source-mix", "Source mix against targets", render)
