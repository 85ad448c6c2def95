"""write_report and the CLI on a real finished run, on local disk and on another Beam
filesystem; the page renders in a browser."""

from __future__ import annotations

import os
import shutil

from pipelines.report import REPORT_FILE, write_report
from pipelines.report.__main__ import main
from tests.pipelines.report.chromium import screenshot
from tests.pipelines.report.data import (
    SECTIONS,
    STAGE_SECTIONS,
    assert_self_contained,
    assert_well_formed,
    section_html,
)


def test_write_report_on_a_real_run(small_run, small_report):
    out, manifest = small_run
    assert small_report == os.path.join(str(out), REPORT_FILE)
    page = open(small_report, encoding="utf-8").read()
    assert_self_contained(page)
    assert_well_formed(page)
    for _, title, _ in SECTIONS:
        assert f"<h2>{title}</h2>" in page
    records = manifest["records"]
    assert f"{records['read']:,} records read" in page
    assert f"{records['kept']:,} kept" in page
    assert f"{manifest['tokens']['tokens']:,} tokens" in page
    assert f"documents/: all {records['kept']:,} rows" in page
    for source in ("web", "books", "code"):
        assert source in section_html(page, "source-mix")


def test_write_report_without_rejected_output(small_run, tmp_path):
    out, _ = small_run
    shutil.copy(out / "manifest.json", tmp_path / "manifest.json")
    shutil.copytree(out / "documents", tmp_path / "documents")
    assert main([str(tmp_path)]) == 0
    page = (tmp_path / REPORT_FILE).read_text(encoding="utf-8")
    assert_well_formed(page)  # the registry's stage sections
    assert "rejected/: not present" in page


def test_chromium_renders_the_report(small_report, tmp_path):
    data = screenshot(small_report, tmp_path)
    assert len(data) > 50_000  # a blank page compresses to a few kilobytes


def test_a_run_on_another_filesystem_gets_the_same_report(small_run, small_report, memfs):
    out, _ = small_run
    memfs.upload(str(out), "memfs://bucket/run")
    path = write_report("memfs://bucket/run", STAGE_SECTIONS)
    assert path == "memfs://bucket/run/" + REPORT_FILE
    with open(small_report, encoding="utf-8") as f:
        assert memfs.FILES[path].decode("utf-8") == f.read()
