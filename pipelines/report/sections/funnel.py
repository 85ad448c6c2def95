"""Funnel: documents in and out of every stage, then the tokens they become."""

from __future__ import annotations

from pipelines.report.charts import ACCENT, DEAD, DROPPED, KEPT, TARGET, Bar, bar_chart
from pipelines.report.html import (
    color_legend,
    data_table,
    escape,
    key_paragraph,
    no_data,
    percent,
    thousands,
)
from pipelines.report.section import ReportRun, Section


def render(run: ReportRun) -> str:
    """Documents in and out of every stage, then the tokens they become -> HTML."""
    m = run.manifest
    stages = m.get("stages") or []
    records = m.get("records") or {}
    if not stages:
        return no_data("the manifest lists no stages")
    read, dead = records.get("read", stages[0].get("in", 0)), records.get("dead_lettered", 0)
    bars = [
        Bar(
            "records read",
            [
                (read - dead, KEPT, f"readable {thousands(read - dead)}"),
                (dead, DEAD, f"dead-lettered {thousands(dead)}"),
            ],
            f"{thousands(read)} → {thousands(read - dead)}"
            + (f" (−{thousands(dead)} dead-lettered)" if dead else ""),
        )
    ]
    rows = []
    for stage in stages:
        n_in, n_out = stage.get("in", 0), stage.get("out", 0)
        gone = n_in - n_out
        bars.append(
            Bar(
                str(stage.get("stage", "?")),
                [
                    (n_out, KEPT, f"out {thousands(n_out)}"),
                    (gone, DROPPED, f"dropped {thousands(gone)}"),
                ],
                f"{thousands(n_in)} → {thousands(n_out)}"
                + (f" (−{thousands(gone)}, {percent(gone, n_in)})" if gone else ""),
            )
        )
        rows.append(
            (
                stage.get("stage", "?"),
                thousands(n_in),
                thousands(n_out),
                thousands(gone),
                percent(gone, n_in),
            )
        )
    plot = color_legend(
        [("passed on", KEPT), ("dropped", DROPPED), ("dead-lettered", DEAD)]
    ) + bar_chart(bars, title="Documents in and out of each stage", x_label="documents")
    kept = stages[-1].get("out", 0)
    text = key_paragraph(
        f"{thousands(read)} records read; {thousands(kept)} documents leave the last stage "
        f"({percent(kept, read)} of records read)."
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
                    f"{thousands(balance['available_tokens'])} tokens before balancing",
                )
            )
        doc_tokens = tokens.get("document_tokens", 0)
        token_bars.append(
            Bar(
                "into the shards",
                [(doc_tokens, ACCENT, "document tokens with copies")],
                f"{thousands(doc_tokens)} tokens in {thousands(tokens.get('documents', 0))} "
                "document copies",
            )
        )
        token_bars.append(
            Bar(
                "packed rows",
                [(tokens.get("tokens", 0), KEPT, "packed tokens")],
                f"{thousands(tokens.get('tokens', 0))} tokens = {thousands(tokens.get('rows', 0))} "
                "rows",
            )
        )
        token_html = bar_chart(
            token_bars, title="Tokens at the end", x_label="tokens"
        ) + key_paragraph(
            f"At the end: {thousands(doc_tokens)} document tokens (end-of-text included, each "
            "balance "
            f"copy counted) packed into {thousands(tokens.get('rows', 0))} rows of "
            f"{escape(tokens.get('seq_len', '?'))} = {thousands(tokens.get('tokens', 0))} tokens; "
            f"{thousands(tokens.get('tail_tokens_dropped', 0))} tail tokens dropped, "
            f"{thousands(tokens.get('pad_tokens', 0))} pad tokens, "
            f"{thousands(tokens.get('rows_dropped_for_equal_shards', 0))} rows left out to give "
            "every "
            "shard the same number of rows."
            + (
                f" So packing left {thousands(tokens['copies_dropped'])} document copies out "
                f"of the shards and cut {thousands(tokens.get('copies_cut', 0))} short, in "
                f"{thousands(tokens.get('documents_not_all_copies_whole', 0))} documents "
                "(each document's <code>tokens.copies</code> and <code>tokens.cut_copies</code> "
                "in documents/ count what the shards hold)."
                if "copies_dropped" in tokens
                else ""
            )
        )
    table = data_table(["stage", "in", "out", "dropped", "dropped %"], rows, (1, 2, 3, 4))
    return text + plot + table + "<h3>Tokens</h3>" + (token_html or no_data("no tokens section"))


SECTION = Section("funnel", "Funnel", render)
