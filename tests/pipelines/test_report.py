"""The run report: a self-contained HTML page built from a manifest and the output tables."""

from __future__ import annotations

import copy
import json
import os
import shutil
import struct
import subprocess
from collections import Counter
from html.parser import HTMLParser

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.report import (
    REPORT_FILE,
    SECTIONS,
    Sample,
    build_report,
    main,
    read_sample,
    write_report,
)
from schemas.arrow import DOCUMENT_SCHEMA, REJECTED_SCHEMA

TITLES = [title for _, title, _ in SECTIONS]
VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "wbr"}
CHROMIUM = "/usr/bin/chromium"


def _row(doc_id, source, lang, text, scores, **extra):
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


def _documents(rows) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=DOCUMENT_SCHEMA)


def _rejected(rows) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=REJECTED_SCHEMA)


DOCS = _documents(
    [
        _row("w1", "web", "en", "a" * 120, {"toxicity.max": 0.01, "pii.hits": 2.0,
                                             "pii.EMAIL_ADDRESS": 2.0, "lid.score": 0.9}),
        _row("w2", "web", "en", "b" * 3000, {"toxicity.max": 0.2, "pii.hits": 0.0}),
        _row("w3", "web", "de", "c" * 800, {"toxicity.max": 0.001, "pii.hits": 1.0,
                                             "pii.PHONE_NUMBER": 1.0}),
        _row("b1", "books", "en", "d" * 40000, {"toxicity.max": 0.05, "pii.hits": 0.0}),
        _row("c1", "code", "python", "e" * 5000, {"pii.hits": 0.0}),
    ]
)  # fmt: skip

REJECTED = _rejected(
    [
        _row("w4", "web", "fr", "f" * 500, {"lid.score": 0.4}, stage="lang", reason="lang"),
        _row("w5", "web", "en", "g" * 90, {}, stage="quality", reason="gopher_word_count"),
        _row("w6", "web", "en", "h" * 700, {"toxicity.max": 0.97}, stage="toxicity",
             reason="toxic"),
        _row("w7", "web", "en", "c" * 800, {}, stage="near_dedup", reason="near_dup",
             duplicate_of="w3"),
        _row("c2", "code", "python", "i" * 9000, {"pii.hits": 0.0}, stage="balance",
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
        "shards": [
            {"path": "tokens/tokens-00000-of-00002.parquet", "rows": 35, "tokens": 4480,
             "sha256": "cd" * 32},
            {"path": "tokens/tokens-00001-of-00002.parquet", "rows": 35, "tokens": 4480,
             "sha256": "ef" * 32},
        ],
    },
}  # fmt: skip


class _Structure(HTMLParser):
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


def _parse(page: str) -> _Structure:
    parser = _Structure()
    parser.feed(page)
    parser.close()
    return parser


def _section_html(page: str, anchor: str) -> str:
    start = page.index(f'<section id="{anchor}">')
    return page[start : page.index("</section>", start)]


def _assert_self_contained(page: str):
    lowered = page.lower()
    assert lowered.startswith("<!doctype html>")
    assert lowered.rstrip().endswith("</html>")
    for forbidden in ('src="http', "src='http", "<link", "<script", "@import", "url(", "<img"):
        assert forbidden not in lowered, forbidden
    # The only absolute URL is the SVG namespace.
    assert lowered.count("http") == lowered.count('xmlns="http://www.w3.org/2000/svg"')


def _assert_well_formed(page: str):
    parsed = _parse(page)
    assert parsed.errors == []
    assert parsed.stack == []
    assert parsed.sections == [anchor for anchor, _, _ in SECTIONS]
    assert parsed.counts["svg"] > 0
    assert parsed.counts["html"] == parsed.counts["body"] == parsed.counts["main"] == 1


def test_the_page_is_one_self_contained_document():
    page = build_report(MANIFEST, DOCS, REJECTED)
    _assert_self_contained(page)
    _assert_well_formed(page)


def test_every_section_has_its_title_and_a_plot():
    page = build_report(MANIFEST, DOCS, REJECTED)
    for anchor, title, _ in SECTIONS:
        section = _section_html(page, anchor)
        assert f"<h2>{title}</h2>" in section
        assert "<svg" in section, title
        assert "no data" not in section.split("<h3>")[0], title


def test_key_numbers_are_on_the_page():
    page = build_report(MANIFEST, DOCS, REJECTED)
    headline = _section_html(page, "headline")
    for text in ("1,011", "1,005", "8,960", "/runs/test-run", "holds", "stages.toxicity.threshold"):
        assert text in headline, text
    funnel = _section_html(page, "funnel")
    assert "1,009 → 8 (−1,001, 99.2%)" in funnel
    assert "9,100 document tokens" in funnel and "12 tail tokens dropped" in funnel
    drops = _section_html(page, "drops")
    assert drops.index("gopher_word_count") < drops.index("near_dup")  # largest first
    assert "1,001 (99.0% of read)" in drops
    languages = _section_html(page, "languages")
    assert "en" in languages and "python" in languages and "fr" in languages
    near = _section_html(page, "near-dedup")
    assert "1 near-duplicate cluster lost documents" in near and "holds 2 documents" in near
    assert "1 (20.0% of 5)" in near  # web: 1008 read - 1 dead - 1 lang - 1001 quality
    pii = _section_html(page, "pii")
    assert "EMAIL_ADDRESS" in pii and "PHONE_NUMBER" in pii
    assert "2 of 5 kept documents" in pii and "3 spans" in pii
    toxicity = _section_html(page, "toxicity")
    assert "threshold 0.85" in toxicity and "set in the run" in toxicity
    assert "dropped as toxic (1)" in toxicity
    mix = _section_html(page, "source-mix")
    assert "70.0%" in mix and "68.00%" in mix and "web: capped at 4 epochs" in mix
    lengths = _section_html(page, "lengths")
    assert "40,000" in lengths  # the book's length is both the median and p10-p90 of books
    assert "1 of the removed documents were not filtered out but downsampled" in lengths


def test_near_duplicate_cluster_sizes_come_from_duplicate_of():
    rejected = _rejected(
        [
            _row(f"d{i}", "web", "en", "x" * 50, {}, stage="near_dedup", reason="near_dup",
                 duplicate_of=survivor)
            for i, survivor in enumerate(["big", "big", "big", "small"])
        ]
        + [_row("e", "web", "en", "y", {}, stage="exact_dedup", reason="exact_dup",
                duplicate_of="other")]
    )  # fmt: skip
    near = _section_html(build_report(MANIFEST, DOCS, rejected), "near-dedup")
    assert "2 near-duplicate clusters lost documents" in near  # exact_dup is not counted
    assert "The largest holds 4 documents" in near
    assert near.index("<td>big</td>") < near.index("<td>small</td>")
    assert "From " not in near
    sampled = build_report(MANIFEST, DOCS, rejected, samples={"rejected": Sample(5, 50, 1, 10)})
    assert "From 5 of 50 rejected rows" in _section_html(sampled, "near-dedup")
    without = _section_html(
        build_report(MANIFEST, DOCS, REJECTED.drop_columns(["duplicate_of"])), "near-dedup"
    )
    assert "no rejected near_dup rows name their survivor" in without


def test_strings_from_the_data_are_escaped():
    evil = "<script>alert(1)</script>"
    docs = _documents(
        [_row("x1", evil, "<b>xx</b>", "text " * 50, {"pii.hits": 1.0, f"pii.{evil}": 1.0})]
    )
    rejected = _rejected([_row("x2", evil, "<i>yy</i>", "text", {}, stage="lang", reason="lang")])
    manifest = copy.deepcopy(MANIFEST)
    manifest["inputs"][2]["file"] = '"><img src=x onerror=alert(2)>'
    manifest["config"]["output"] = "</title><script>alert(3)</script>"
    manifest["balance"]["notes"] = [evil]
    page = build_report(manifest, docs, rejected)
    lowered = page.lower()
    assert "<script" not in lowered and "<img" not in lowered
    assert "<b>xx" not in page and "<i>yy" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;xx&lt;/b&gt;" in page
    _assert_well_formed(page)


def test_empty_inputs_give_no_data_in_every_section():
    page = build_report({}, None, None)
    _assert_self_contained(page)
    parsed = _parse(page)
    assert parsed.errors == [] and parsed.stack == []
    for anchor, title, _ in SECTIONS:
        section = _section_html(page, anchor)
        assert title in section
        assert "no data" in section, title


def test_empty_tables_and_a_bare_manifest_give_no_data():
    manifest = {k: MANIFEST[k] for k in ("records", "stages", "inputs", "config", "tokens")}
    page = build_report(manifest, _documents([]), _rejected([]))
    _assert_well_formed(page)
    for anchor in ("languages", "lengths", "pii", "toxicity"):
        assert "no data" in _section_html(page, anchor), anchor
    # Without a balance section the mix is the natural one, from the per-input counts.
    mix = _section_html(page, "source-mix")
    assert "No balancing in this run" in mix and "3 docs (60.0%)" in mix


def test_toxicity_threshold_default_and_disabled():
    manifest = copy.deepcopy(MANIFEST)
    del manifest["config"]["stages"]["toxicity"]
    page = build_report(manifest, DOCS, REJECTED)
    assert "threshold 0.9 on" in _section_html(page, "toxicity")
    assert "the default; none set in the config" in _section_html(page, "toxicity")
    manifest["config"]["stages"]["toxicity"] = {"threshold": None}
    page = build_report(manifest, DOCS, REJECTED)
    assert "no threshold (disabled in the run" in _section_html(page, "toxicity")


def test_no_rejected_table_still_reports(tmp_path):
    page = build_report(MANIFEST, DOCS, None)
    _assert_well_formed(page)
    assert "rejected/: not present" in page
    assert "only the kept documents are shown" in _section_html(page, "lengths")


def _write_shards(directory, files: int, groups: int, rows: int, schema=DOCUMENT_SCHEMA):
    os.makedirs(directory, exist_ok=True)
    n = 0
    for f in range(files):
        batch = []
        for _ in range(groups * rows):
            scores = {"pii.hits": 1.0, "pii.EMAIL_ADDRESS": 1.0, "toxicity.max": 0.5,
                      "gopher.word_count": 10.0, "lid.score": 0.99}  # fmt: skip
            extra = {"stage": "quality", "reason": "r"} if schema is REJECTED_SCHEMA else {}
            batch.append(_row(f"d{n}", ["web", "books"][n % 2], "en", "é" * (n + 1), scores,
                              **extra))  # fmt: skip
            n += 1
        table = pa.Table.from_pylist(batch, schema=schema)
        pq.write_table(table, os.path.join(directory, f"part-{f:03d}.parquet"), row_group_size=rows)
    return n


def test_read_sample_reads_whole_row_groups_up_to_the_cap(tmp_path):
    total = _write_shards(tmp_path / "documents", files=4, groups=3, rows=10)
    table, sample = read_sample(str(tmp_path / "documents"), ["source", "text", "scores"], 25)
    assert (sample.rows, sample.total_rows) == (30, total)
    assert (sample.row_groups, sample.total_row_groups) == (3, 12)
    assert table.num_rows == 30 and "text" not in table.column_names
    # Lengths in characters (not bytes), and only the signals the report uses.
    assert table.column("text_chars").to_pylist()[0] >= 1
    keys = {k for row in table.column("scores").to_pylist() for k, _ in row}
    assert keys == {"pii.hits", "pii.EMAIL_ADDRESS", "toxicity.max"}
    again, _ = read_sample(str(tmp_path / "documents"), ["source", "text", "scores"], 25)
    assert again.equals(table)
    everything, full = read_sample(str(tmp_path / "documents"), ["source", "text"], 1000)
    assert full.complete and everything.num_rows == total
    assert read_sample(str(tmp_path / "missing"), ["source"], 10) == (None, None)


def test_write_report_on_a_sampled_run_says_so(tmp_path):
    total = _write_shards(tmp_path / "documents", files=4, groups=2, rows=10)
    _write_shards(tmp_path / "rejected", files=1, groups=1, rows=10, schema=REJECTED_SCHEMA)
    (tmp_path / "manifest.json").write_text(json.dumps(MANIFEST))
    path = write_report(str(tmp_path), max_rows=15)
    assert path == str(tmp_path / REPORT_FILE)
    page = open(path, encoding="utf-8").read()
    _assert_self_contained(page)
    _assert_well_formed(page)
    assert f"documents/: 20 of {total} rows" in page
    assert "rejected/: all 10 rows" in page
    assert f"≈{total}" in _section_html(page, "languages")  # scaled to the whole run


SMALL_RUN = ["--vocab_size=1500", "--seq_len=128"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from pipelines.curate import run
    from pipelines.sample_corpus import write_sample_corpus

    corpus = tmp_path_factory.mktemp("corpus")
    out = tmp_path_factory.mktemp("run")
    inputs = write_sample_corpus(str(corpus), scale=0.1)
    manifest = run([*SMALL_RUN, f"--output={out}", *(f"--input={spec}" for spec in inputs)])
    return out, manifest


@pytest.fixture(scope="module")
def small_report(small_run):
    out, _ = small_run
    return write_report(str(out))


def test_write_report_on_a_real_run(small_run, small_report):
    out, manifest = small_run
    assert small_report == os.path.join(str(out), REPORT_FILE)
    page = open(small_report, encoding="utf-8").read()
    _assert_self_contained(page)
    _assert_well_formed(page)
    for title in TITLES:
        assert f"<h2>{title}</h2>" in page
    records = manifest["records"]
    assert f"{records['read']:,} records read" in page
    assert f"{records['kept']:,} kept" in page
    assert f"{manifest['tokens']['tokens']:,} tokens" in page
    assert f"documents/: all {records['kept']:,} rows" in page
    for source in ("web", "books", "code"):
        assert source in _section_html(page, "source-mix")


def test_write_report_without_rejected_output(small_run, tmp_path):
    out, _ = small_run
    shutil.copy(out / "manifest.json", tmp_path / "manifest.json")
    shutil.copytree(out / "documents", tmp_path / "documents")
    assert main([str(tmp_path)]) == 0
    page = (tmp_path / REPORT_FILE).read_text(encoding="utf-8")
    _assert_well_formed(page)
    assert "rejected/: not present" in page


def test_chromium_renders_the_report(small_report, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium) to render the page")
    png = tmp_path / "report.png"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={png}",
        "--window-size=1100,3000",
        f"file://{small_report}",
    ]
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert png.exists(), "chromium wrote no screenshot"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1100, 3000)
    assert len(data) > 50_000  # a blank page compresses to a few kilobytes
