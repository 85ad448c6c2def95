"""Headline: records by outcome overall and per input, tokens, shards, configuration."""

from __future__ import annotations

import json
import os

from pipelines.report.charts import DEAD, DROPPED, KEPT, Bar, bar_chart
from pipelines.report.html import (
    color_legend,
    data_table,
    escape,
    key_paragraph,
    no_data,
    note,
    percent,
    plural,
    thousands,
)
from pipelines.report.section import ReportRun, Section


def _flatten(value, prefix: str) -> list[tuple[str, str]]:
    """Nested settings -> (dotted.key, JSON value) pairs, sorted."""
    if isinstance(value, dict) and value:
        return [
            pair
            for key in sorted(value, key=str)
            for pair in _flatten(value[key], f"{prefix}.{key}")
        ]
    return [(prefix, json.dumps(value, ensure_ascii=False))]


def render(run: ReportRun) -> str:
    """Records by outcome (overall and per input), tokens, shards, configuration -> HTML."""
    m = run.manifest
    records = m.get("records") or {}
    if not records:
        return no_data("the manifest has no records section")
    read, kept = records.get("read", 0), records.get("kept", 0)
    dropped, dead = records.get("dropped", 0), records.get("dead_lettered", 0)
    balanced = bool(records.get("balanced"))
    tokens = m.get("tokens") or {}
    shards = tokens.get("shards") or []
    cards = [
        ("records read", thousands(read), ""),
        ("kept", thousands(kept), percent(kept, read)),
        ("dropped", thousands(dropped), percent(dropped, read)),
        ("dead-lettered", thousands(dead), percent(dead, read)),
        ("accounting", "balanced" if balanced else "NOT balanced", "read = kept+dropped+dead"),
        ("tokens", thousands(tokens.get("tokens", 0)), f"seq_len {tokens.get('seq_len', '?')}"),
        (
            "rows",
            thousands(tokens.get("rows", 0)),
            f"{thousands(tokens.get('rows_per_shard', 0))}/shard",
        ),
        ("shards", thousands(len(shards)), f"dp world size {tokens.get('dp_world_size', '?')}"),
    ]
    card_html = "".join(
        f'<div class="card{" bad" if k == "accounting" and not balanced else ""}">'
        f'<div class="k">{escape(k)}</div><div class="v">{escape(v)}</div>'
        f'<div class="s">{escape(s)}</div></div>'
        for k, v, s in cards
    )
    verdict = (
        '<b class="ok">holds</b>'
        if balanced
        else '<b class="bad">does NOT hold: records went missing or were counted twice</b>'
    )
    config = m.get("config") or {}
    inputs = m.get("inputs") or []
    text = key_paragraph(
        f"{thousands(read)} records read from {len(inputs)} input files: {thousands(kept)} kept "
        f"({percent(kept, read)}), {thousands(dropped)} dropped ({percent(dropped, read)}), "
        f"{thousands(dead)} "
        f"dead-lettered ({percent(dead, read)}). The identity read = kept + dropped + "
        f"dead-lettered {verdict}."
    )
    if tokens:
        text += key_paragraph(
            f"{thousands(tokens.get('tokens', 0))} tokens in {thousands(tokens.get('rows', 0))} "
            "rows of "
            f"{escape(tokens.get('seq_len', '?'))} tokens, {plural(len(shards), 'shard')} of "
            f"{thousands(tokens.get('rows_per_shard', 0))} rows for a data-parallel world size of "
            f"{escape(tokens.get('dp_world_size', '?'))}. Output: <code>"
            f"{escape(config.get('output', '?'))}</code>."
        )
    vocab_note = (m.get("tokenizer") or {}).get("vocab_note")
    if vocab_note:  # a vocabulary smaller than asked for changes every token count
        text += key_paragraph(f'<b class="bad">Tokenizer:</b> {escape(vocab_note)}.')
    bars = [
        Bar(
            "all inputs",
            [
                (kept, KEPT, f"kept {thousands(kept)}"),
                (dropped, DROPPED, f"dropped {thousands(dropped)}"),
                (dead, DEAD, f"dead-lettered {thousands(dead)}"),
            ],
            f"{thousands(read)} read",
        )
    ]
    for entry in inputs:
        n_dropped = sum((entry.get("dropped") or {}).values())
        bars.append(
            Bar(
                f"{entry.get('source', '?')}: {os.path.basename(str(entry.get('file', '?')))}",
                [
                    (entry.get("kept", 0), KEPT, f"kept {thousands(entry.get('kept', 0))}"),
                    (n_dropped, DROPPED, f"dropped {thousands(n_dropped)}"),
                    (entry.get("dead_lettered", 0), DEAD, "dead-lettered"),
                ],
                f"{thousands(entry.get('read', 0))} read, "
                f"{percent(entry.get('kept', 0), entry.get('read', 0))} kept",
            )
        )
    plot = color_legend(
        [("kept", KEPT), ("dropped", DROPPED), ("dead-lettered", DEAD)]
    ) + bar_chart(bars, title="Records read per input file, by outcome", x_label="records")
    input_rows = [
        (
            e.get("source", ""),
            e.get("file", ""),
            thousands(e.get("read", 0)),
            thousands(e.get("kept", 0)),
            thousands(sum((e.get("dropped") or {}).values())),
            thousands(e.get("dead_lettered", 0)),
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
        ("output_format", ", ".join(config.get("output_format") or ["parquet"])),
        ("validation_fraction", json.dumps(config.get("validation_fraction", 0))),
        ("write_rejected", json.dumps(config.get("write_rejected"))),
        ("code_sources", ", ".join(map(str, config.get("code_sources") or [])) or "none"),
    ]
    stage_settings = _flatten(config.get("stages") or {}, "stages")
    settings += stage_settings or [("stages", "all defaults")]
    shard_rows = [
        (
            s.get("path", ""),
            thousands(s.get("rows", 0)),
            thousands(s.get("tokens", 0)),
            str(s.get("sha256", ""))[:16],
        )
        for s in shards[:8]
    ]
    more = f"<p class='note'>… and {len(shards) - 8} more shards.</p>" if len(shards) > 8 else ""
    split_rows = [
        (split, thousands(side.get("copies", 0)), thousands(side.get("tokens", 0)))
        for split, side in (m.get("splits") or {}).items()
    ]
    format_rows = [
        (fmt, split, section.get("dtype") or "", thousands(len(section.get("files", []))))
        for fmt, sides in (m.get("formats") or {}).items()
        for split, section in sides.items()
    ]
    return (
        f'<div class="cards">{card_html}</div>{text}{plot}'
        + data_table(
            ["source", "file", "read", "kept", "dropped", "dead-lettered"], input_rows, (2, 3, 4, 5)
        )
        + "<h3>Configuration</h3>"
        + data_table(["setting", "value"], settings)
        + note("Stage settings not listed are the defaults documented in transforms/.")
        + (
            "<h3>Token shards</h3>"
            + data_table(["path", "rows", "tokens", "sha256"], shard_rows, (1, 2))
            + more
            if shards
            else ""
        )
        + (
            "<h3>Splits and token formats</h3>"
            + data_table(["split", "document copies", "tokens"], split_rows, (1, 2))
            + (
                data_table(["format", "split", "dtype", "files"], format_rows, (3,))
                if format_rows
                else ""
            )
            if split_rows
            else ""
        )
    )


SECTION = Section("headline", "Headline", render)
