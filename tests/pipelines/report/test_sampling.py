"""Reading a bounded sample of a run's tables, on local disk and on another Beam filesystem."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.report import REPORT_FILE, read_sample, write_report
from schemas.arrow import REJECTED_SCHEMA
from tests.pipelines.report.data import (
    MANIFEST,
    STAGE_SECTIONS,
    assert_self_contained,
    assert_well_formed,
    section_html,
    write_shards,
)


def test_read_sample_reads_whole_row_groups_up_to_the_cap(tmp_path):
    total = write_shards(tmp_path / "documents", files=4, groups=3, rows=10)
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
    total = write_shards(tmp_path / "documents", files=4, groups=2, rows=10)
    write_shards(tmp_path / "rejected", files=1, groups=1, rows=10, schema=REJECTED_SCHEMA)
    (tmp_path / "manifest.json").write_text(json.dumps(MANIFEST))
    path = write_report(str(tmp_path), STAGE_SECTIONS, max_rows=15)
    assert path == str(tmp_path / REPORT_FILE)
    page = open(path, encoding="utf-8").read()
    assert_self_contained(page)
    assert_well_formed(page)
    assert f"documents/: 20 of {total} rows" in page
    assert "rejected/: all 10 rows" in page
    assert f"≈{total}" in section_html(page, "languages")  # scaled to the whole run


def test_a_sampled_run_on_another_filesystem_gives_the_same_page(tmp_path, memfs):
    write_shards(tmp_path / "documents", files=4, groups=2, rows=10)
    write_shards(tmp_path / "rejected", files=2, groups=2, rows=10, schema=REJECTED_SCHEMA)
    (tmp_path / "manifest.json").write_text(json.dumps(MANIFEST))
    memfs.upload(str(tmp_path), "memfs://bucket/run")
    remote = write_report("memfs://bucket/run", STAGE_SECTIONS, max_rows=15)
    local = write_report(str(tmp_path), STAGE_SECTIONS, max_rows=15)
    assert remote == "memfs://bucket/run/" + REPORT_FILE
    page = memfs.FILES[remote].decode("utf-8")
    assert page == open(local, encoding="utf-8").read()
    assert "documents/: 20 of 80 rows" in page  # sampled the same row groups
    assert not [p for p in memfs.FILES if p.endswith(".tmp")]


def test_read_sample_reads_only_the_chosen_row_groups_and_columns(tmp_path, memfs):
    # Text that does not compress, so the bytes read show what was decoded.
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype="S1")
    rng = np.random.default_rng(0)
    os.makedirs(tmp_path / "documents")
    for f in range(2):
        texts = [rng.choice(letters, 8000).tobytes().decode() for _ in range(200)]
        table = pa.table({"source": ["web"] * 200, "text": texts})
        pq.write_table(table, tmp_path / "documents" / f"part-{f}.parquet", row_group_size=20)
    memfs.upload(str(tmp_path), "memfs://bucket/run")
    size = sum(len(data) for data in memfs.FILES.values())

    def bytes_read(columns, max_rows):
        memfs.BYTES_READ.clear()
        table, sample = read_sample("memfs://bucket/run/documents", columns, max_rows)
        local, _ = read_sample(str(tmp_path / "documents"), columns, max_rows)
        assert table.equals(local)
        return sum(memfs.BYTES_READ.values()), sample

    everything, full = bytes_read(["source", "text"], 1000)
    assert full.complete and everything >= size * 0.9
    one_group, sample = bytes_read(["source", "text"], 20)
    assert (sample.row_groups, sample.total_row_groups) == (1, 20)
    assert one_group < size / 4
    no_text, _ = bytes_read(["source"], 1000)
    assert no_text < size / 4
