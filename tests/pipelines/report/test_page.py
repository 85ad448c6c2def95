"""The report page from a manifest and tables: structure, numbers, escaping, section order."""

from __future__ import annotations

import copy
import functools
import re

from pipelines.report import RUN_SECTIONS, Sample, build_report
from tests.pipelines.report.data import (
    DOCS,
    MANIFEST,
    REJECTED,
    SECTIONS,
    STAGE_SECTIONS,
    assert_self_contained,
    assert_well_formed,
    documents_table,
    parse,
    rejected_table,
    row,
    section_html,
)

page_of = functools.partial(build_report, stage_sections=STAGE_SECTIONS)


def test_the_page_is_one_self_contained_document():
    page = page_of(MANIFEST, DOCS, REJECTED)
    assert_self_contained(page)
    assert_well_formed(page)


def test_every_section_has_its_title_and_a_plot():
    page = page_of(MANIFEST, DOCS, REJECTED)
    for anchor, title, _ in SECTIONS:
        section = section_html(page, anchor)
        assert f"<h2>{title}</h2>" in section
        assert "<svg" in section, title
        assert "no data" not in section.split("<h3>")[0], title


def test_key_numbers_are_on_the_page():
    page = page_of(MANIFEST, DOCS, REJECTED)
    headline = section_html(page, "headline")
    for text in ("1,011", "1,005", "8,960", "/runs/test-run", "holds", "stages.toxicity.threshold"):
        assert text in headline, text
    funnel = section_html(page, "funnel")
    assert "1,009 → 8 (−1,001, 99.2%)" in funnel
    assert "9,100 document tokens" in funnel and "12 tail tokens dropped" in funnel
    assert "left 2 document copies out of the shards and cut 1 short, in 2 documents" in funnel
    drops = section_html(page, "drops")
    assert drops.index("gopher_word_count") < drops.index("near_dup")  # largest first
    assert "1,001 (99.0% of read)" in drops
    languages = section_html(page, "languages")
    assert "en" in languages and "python" in languages and "fr" in languages
    near = section_html(page, "near-dedup")
    assert "1 near-duplicate cluster lost documents" in near and "holds 2 documents" in near
    assert "1 (20.0% of 5)" in near  # web: 1008 read - 1 dead - 1 lang - 1001 quality
    pii = section_html(page, "pii")
    assert "EMAIL_ADDRESS" in pii and "PHONE_NUMBER" in pii
    assert "2 of 5 kept documents" in pii and "3 spans" in pii
    toxicity = section_html(page, "toxicity")
    assert "threshold 0.85" in toxicity and "set in the run" in toxicity
    assert "dropped as toxic (1)" in toxicity
    mix = section_html(page, "source-mix")
    assert "70.0%" in mix and "68.00%" in mix and "web: capped at 4 epochs" in mix
    lengths = section_html(page, "lengths")
    assert "40,000" in lengths  # the book's length is both the median and p10-p90 of books
    assert "1 of the removed documents were not filtered out but downsampled" in lengths


def test_near_duplicate_cluster_sizes_come_from_duplicate_of():
    rejected = rejected_table(
        [
            row(f"d{i}", "web", "en", "x" * 50, {}, stage="near_dedup", reason="near_dup",
                 duplicate_of=survivor)
            for i, survivor in enumerate(["big", "big", "big", "small"])
        ]
        + [row("e", "web", "en", "y", {}, stage="exact_dedup", reason="exact_dup",
                duplicate_of="other")]
    )  # fmt: skip
    near = section_html(page_of(MANIFEST, DOCS, rejected), "near-dedup")
    assert "2 near-duplicate clusters lost documents" in near  # exact_dup is not counted
    assert "The largest holds 4 documents" in near
    assert near.index("<td>big</td>") < near.index("<td>small</td>")
    assert "From " not in near
    sampled = page_of(MANIFEST, DOCS, rejected, samples={"rejected": Sample(5, 50, 1, 10)})
    assert "From 5 of 50 rejected rows" in section_html(sampled, "near-dedup")
    without = section_html(
        page_of(MANIFEST, DOCS, REJECTED.drop_columns(["duplicate_of"])), "near-dedup"
    )
    assert "no rejected near_dup rows name their survivor" in without


def test_strings_from_the_data_are_escaped():
    evil = "<script>alert(1)</script>"
    docs = documents_table(
        [row("x1", evil, "<b>xx</b>", "text " * 50, {"pii.hits": 1.0, f"pii.{evil}": 1.0})]
    )
    rejected = rejected_table(
        [row("x2", evil, "<i>yy</i>", "text", {}, stage="lang", reason="lang")]
    )
    manifest = copy.deepcopy(MANIFEST)
    manifest["inputs"][2]["file"] = '"><img src=x onerror=alert(2)>'
    manifest["config"]["output"] = "</title><script>alert(3)</script>"
    manifest["balance"]["notes"] = [evil]
    page = page_of(manifest, docs, rejected)
    lowered = page.lower()
    assert "<script" not in lowered and "<img" not in lowered
    assert "<b>xx" not in page and "<i>yy" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;xx&lt;/b&gt;" in page
    assert_well_formed(page)


def test_empty_inputs_give_no_data_in_every_section():
    page = page_of({}, None, None)
    assert_self_contained(page)
    parsed = parse(page)
    assert parsed.errors == [] and parsed.stack == []
    for anchor, title, _ in SECTIONS:
        section = section_html(page, anchor)
        assert title in section
        assert "no data" in section, title


def test_empty_tables_and_a_bare_manifest_give_no_data():
    manifest = {k: MANIFEST[k] for k in ("records", "stages", "inputs", "config", "tokens")}
    page = page_of(manifest, documents_table([]), rejected_table([]))
    assert_well_formed(page)
    for anchor in ("languages", "lengths", "pii", "toxicity"):
        assert "no data" in section_html(page, anchor), anchor
    # Without a balance section the mix is the natural one, from the per-input counts.
    mix = section_html(page, "source-mix")
    assert "No balancing in this run" in mix and "3 docs (60.0%)" in mix


def test_toxicity_threshold_default_and_disabled():
    manifest = copy.deepcopy(MANIFEST)
    del manifest["config"]["stages"]["toxicity"]
    page = page_of(manifest, DOCS, REJECTED)
    assert "threshold 0.85 on" in section_html(page, "toxicity")
    assert "the default; none set in the config" in section_html(page, "toxicity")
    manifest["config"]["stages"]["toxicity"] = {"threshold": None}
    page = page_of(manifest, DOCS, REJECTED)
    assert "no threshold (disabled in the run" in section_html(page, "toxicity")


def test_no_rejected_table_still_reports(tmp_path):
    page = page_of(MANIFEST, DOCS, None)
    assert_well_formed(page)
    assert "rejected/: not present" in page
    assert "only the kept documents are shown" in section_html(page, "lengths")


def test_stage_sections_follow_the_run_sections_in_the_order_given():
    assert [s.anchor for s in SECTIONS] == [
        *("headline", "funnel", "drops", "lengths"),
        *("languages", "near-dedup", "toxicity", "pii", "source-mix"),
    ]
    reordered = STAGE_SECTIONS[::-1]
    page = build_report(MANIFEST, DOCS, REJECTED, stage_sections=reordered)
    anchors = [s.anchor for s in (*RUN_SECTIONS, *reordered)]
    assert parse(page).sections == anchors
    nav = page[page.index("<nav>") : page.index("</nav>")]
    assert re.findall(r'href="#([^"]+)"', nav) == anchors
    only_run = build_report(MANIFEST, DOCS, REJECTED)
    assert parse(only_run).sections == [s.anchor for s in RUN_SECTIONS]
    # A section's HTML does not depend on which sections surround it.
    for section in RUN_SECTIONS:
        assert section_html(only_run, section.anchor) == section_html(page, section.anchor)


def test_a_vocabulary_smaller_than_asked_is_said_with_its_reason():
    assert "Tokenizer:" not in section_html(page_of(MANIFEST, DOCS, REJECTED), "headline")
    manifest = copy.deepcopy(MANIFEST)
    said = "the tokenizer learned 1,499 of the 1,500 vocabulary entries asked for: too little text"
    manifest["tokenizer"]["vocab_note"] = said
    headline = section_html(page_of(manifest, DOCS, REJECTED), "headline")
    assert f'<b class="bad">Tokenizer:</b> {said}.' in headline
