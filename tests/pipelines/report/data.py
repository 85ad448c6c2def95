"""Shared by the report tests: a small run's manifest and tables, the page's structure
checks, and Parquet shards to sample from."""

from __future__ import annotations

import os
from collections import Counter
from html.parser import HTMLParser

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.report import RUN_SECTIONS
from pipelines.stages import REGISTRY
from schemas.arrow import DOCUMENT_SCHEMA, REJECTED_SCHEMA

# The stage sections, in the stage registry's (pipeline) order, as curate writes them.
STAGE_SECTIONS = REGISTRY.report_sections()
SECTIONS = (*RUN_SECTIONS, *STAGE_SECTIONS)
VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "wbr"}


def row(doc_id, source, lang, text, scores, **extra):
    """One documents/ (or, with `extra`, rejected/) row as a dict."""
    row = {
        "id": doc_id,
        "source": source,
        "sub_source": None,
        "url": f"https://example.com/{doc_id}",
        "timestamp": None,
        "lang": lang,
        "text": text,
        "scores": sorted(scores.items()),
        "source_file": f"{source}.jsonl",
        "content_type": None,
    }
    row.update(extra)
    return row


def documents_table(rows) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA)


def rejected_table(rows) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=REJECTED_SCHEMA)


DOCS = documents_table(
    [
        row("w1", "web", "en", "a" * 120, {"toxicity.max": 0.01, "pii.hits": 2.0,
                                             "pii.EMAIL_ADDRESS": 2.0, "lid.score": 0.9}),
        row("w2", "web", "en", "b" * 3000, {"toxicity.max": 0.2, "pii.hits": 0.0}),
        row("w3", "web", "de", "c" * 800, {"toxicity.max": 0.001, "pii.hits": 1.0,
                                             "pii.PHONE_NUMBER": 1.0}),
        row("b1", "books", "en", "d" * 40000, {"toxicity.max": 0.05, "pii.hits": 0.0}),
        row("c1", "code", "python", "e" * 5000, {"pii.hits": 0.0}),
    ]
)  # fmt: skip

REJECTED = rejected_table(
    [
        row("w4", "web", "fr", "f" * 500, {"lid.score": 0.4}, stage="lang", reason="lang"),
        row("w5", "web", "en", "g" * 90, {}, stage="quality", reason="gopher_word_count"),
        row("w6", "web", "en", "h" * 700, {"toxicity.max": 0.97}, stage="toxicity",
             reason="toxic"),
        row("w7", "web", "en", "c" * 800, {}, stage="near_dedup", reason="near_dup",
             duplicate_of="w3"),
        row("c2", "code", "python", "i" * 9000, {"pii.hits": 0.0}, stage="balance",
             reason="downsampled"),
    ]
)  # fmt: skip

MANIFEST = {
    "manifest_version": 1,
    "config": {
        "inputs": [{"source": "web", "pattern": "web.jsonl"}],
        "output": "/runs/test-run",
        "seq_len": 128,
        "pack_tail": "drop",
        "dp_world_size": 2,
        "tokenizer": None,
        "vocab_size": 1500,
        "write_rejected": True,
        "code_sources": ["code"],
        "stages": {"toxicity": {"threshold": 0.85}, "balance": {"targets": {"web": 0.7}}},
    },
    "records": {"read": 1011, "kept": 5, "dropped": 1005, "dead_lettered": 1, "balanced": True},
    "stages": [
        {"stage": "read", "in": 1010, "out": 1010, "dropped": {}},
        {"stage": "lang", "in": 1010, "out": 1009, "dropped": {"lang": 1}},
        {"stage": "quality", "in": 1009, "out": 8, "dropped": {"gopher_word_count": 1001}},
        {"stage": "near_dedup", "in": 8, "out": 7, "dropped": {"near_dup": 1}},
        {"stage": "toxicity", "in": 7, "out": 6, "dropped": {"toxic": 1}},
        {"stage": "pii", "in": 6, "out": 6, "dropped": {}},
        {"stage": "balance", "in": 6, "out": 5, "dropped": {"downsampled": 1}},
    ],
    "inputs": [
        {"source": "books", "file": "books.jsonl", "kept": 1, "dropped": {},
         "dead_lettered": 0, "read": 1},
        {"source": "code", "file": "code.jsonl", "kept": 1,
         "dropped": {"balance/downsampled": 1}, "dead_lettered": 0, "read": 2},
        {"source": "web", "file": "web.jsonl", "kept": 3,
         "dropped": {"lang/lang": 1, "quality/gopher_word_count": 1001,
                     "near_dedup/near_dup": 1, "toxicity/toxic": 1},
         "dead_lettered": 1, "read": 1008},
    ],
    "balance": {
        "available_tokens": 9000,
        "selected_tokens": 9100,
        "max_epochs": 4.0,
        "sources": [
            {"source": "books", "target_share": 0.1, "achieved_share": 0.12, "capped": False},
            {"source": "code", "target_share": 0.2, "achieved_share": 0.2, "capped": False},
            {"source": "web", "target_share": 0.7, "achieved_share": 0.68, "capped": True},
        ],
        "cells": [
            {"source": "books", "bucket": None, "target_share": 0.1, "available_tokens": 1000,
             "available_documents": 1, "selected_tokens": 1092, "copies": 1, "epochs": 1.09,
             "capped": False, "achieved_share": 0.12},
            {"source": "code", "bucket": None, "target_share": 0.2, "available_tokens": 6000,
             "available_documents": 2, "selected_tokens": 1820, "copies": 1, "epochs": 0.3,
             "capped": False, "achieved_share": 0.2},
            {"source": "web", "bucket": None, "target_share": 0.7, "available_tokens": 2000,
             "available_documents": 3, "selected_tokens": 6188, "copies": 12, "epochs": 3.09,
             "capped": True, "achieved_share": 0.68},
        ],
        "notes": ["web: capped at 4 epochs below its share"],
    },
    "tokenizer": {"vocab_size": 1499, "sha256": "ab" * 32},
    "tokens": {
        "seq_len": 128, "dp_world_size": 2, "rows": 70, "tokens": 8960,
        "rows_per_shard": 35, "rows_dropped_for_equal_shards": 1, "document_tokens": 9100,
        "documents": 14, "tail_tokens_dropped": 12, "pad_tokens": 0,
        "copies_cut": 1, "copies_dropped": 2, "documents_not_all_copies_whole": 2,
        "shards": [
            {"path": "tokens/tokens-00000-of-00002.parquet", "rows": 35, "tokens": 4480,
             "sha256": "cd" * 32},
            {"path": "tokens/tokens-00001-of-00002.parquet", "rows": 35, "tokens": 4480,
             "sha256": "ef" * 32},
        ],
    },
}  # fmt: skip


class Structure(HTMLParser):
    """Records tag counts and every end tag that does not close the innermost open tag."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.counts: Counter = Counter()
        self.sections: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.counts[tag] += 1
        if tag == "section":
            self.sections.append(dict(attrs).get("id", ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.counts[tag] += 1

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")


def parse(page: str) -> Structure:
    """The page -> its tag structure."""
    parser = Structure()
    parser.feed(page)
    parser.close()
    return parser


def section_html(page: str, anchor: str) -> str:
    """The HTML of the section with id `anchor`."""
    start = page.index(f'<section id="{anchor}">')
    return page[start : page.index("</section>", start)]


def assert_self_contained(page: str):
    lowered = page.lower()
    assert lowered.startswith("<!doctype html>")
    assert lowered.rstrip().endswith("</html>")
    for forbidden in ('src="http', "src='http", "<link", "<script", "@import", "url(", "<img"):
        assert forbidden not in lowered, forbidden
    # The only absolute URL is the SVG namespace.
    assert lowered.count("http") == lowered.count('xmlns="http://www.w3.org/2000/svg"')


def assert_well_formed(page: str, sections=SECTIONS):
    parsed = parse(page)
    assert parsed.errors == []
    assert parsed.stack == []
    assert parsed.sections == [anchor for anchor, _, _ in sections]
    assert parsed.counts["svg"] > 0
    assert parsed.counts["html"] == parsed.counts["body"] == parsed.counts["main"] == 1


def write_shards(directory, files: int, groups: int, rows: int, schema=DOCUMENT_SCHEMA):
    """`files` Parquet files of `groups` row groups of `rows` rows in `directory` -> rows
    written."""
    os.makedirs(directory, exist_ok=True)
    n = 0
    for f in range(files):
        batch = []
        for _ in range(groups * rows):
            scores = {"pii.hits": 1.0, "pii.EMAIL_ADDRESS": 1.0, "toxicity.max": 0.5,
                      "gopher.word_count": 10.0, "lid.score": 0.99}  # fmt: skip
            extra = {"stage": "quality", "reason": "r"} if schema is REJECTED_SCHEMA else {}
            batch.append(row(f"d{n}", ["web", "books"][n % 2], "en", "é" * (n + 1), scores,
                              **extra))  # fmt: skip
            n += 1
        table = pa.Table.from_pylist(batch, schema=schema)
        pq.write_table(table, os.path.join(directory, f"part-{f:03d}.parquet"), row_group_size=rows)
    return n
