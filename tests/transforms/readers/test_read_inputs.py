"""ReadInputs over a mix of sources: Pile jsonl.zst, a WARC, The Stack Parquet, a listing."""

from __future__ import annotations

import itertools
import os

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.pipeline import PipelineVisitor
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import DeadLetter, Document, Rejected
from transforms.readers import ReadInputs, _MatchFiles, _ReadFiles
from transforms.readers.config import ReaderConfig

pa = pytest.importorskip("pyarrow", reason="pyarrow is needed for the Parquet input")
pq = pytest.importorskip("pyarrow.parquet")

WET = "crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/wet/whirlwind.warc.wet.gz"
GONE = "crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/wet/gone.warc.wet.gz"


def _inputs(fixtures, tmp_path) -> list[tuple[str, str]]:
    code = tmp_path / "code" / "the-stack-00000.parquet"
    code.parent.mkdir()
    rows = [
        ("print(1)\n", "o/a", "a.py", "Python", ["MIT"]),
        ("fn main() {}\n", "o/b", "src/main.rs", None, ["Apache-2.0"]),
        ("int main(){}\n", "o/c", "main.c", "C", ["GPL-3.0"]),
        ("x=1\n", "o/d", "vendor/lib/x.py", "Python", ["MIT"]),
    ]
    columns = ["content", "max_stars_repo_name", "max_stars_repo_path", "lang", "licenses"]
    table = pa.Table.from_pylist([dict(zip(columns, row, strict=True)) for row in rows])
    pq.write_table(table.append_column("size", pa.array([9, 13, 13, 4])), code)

    mirror = tmp_path / "mirror"
    (mirror / WET).parent.mkdir(parents=True)
    os.symlink(fixtures / "commoncrawl" / "CC-MAIN-2024-22-whirlwind.warc.wet.gz", mirror / WET)
    (tmp_path / "wet.paths").write_text(f"# two files, one gone\n{WET}\n{GONE}\n")
    return [
        ("pile", str(fixtures / "pile" / "blns-*.jsonl.zst")),
        ("web", str(fixtures / "commoncrawl" / "CC-MAIN-2024-22-whirlwind.warc.gz")),
        ("code", f"{tmp_path}/code/*.parquet"),
        ("cc", str(tmp_path / "wet.paths")),
        ("none", f"{tmp_path}/nothing-here/*.jsonl"),
    ]


def _summary(record) -> tuple:
    if isinstance(record, Document):
        return ("Document", record.source, record.id)
    if isinstance(record, Rejected):
        return ("Rejected", record.doc.source, record.doc.id, record.reason)
    assert isinstance(record, DeadLetter)
    return ("DeadLetter", record.source, os.path.basename(record.source_file), record.error[:20])


class _ReadSteps(PipelineVisitor):
    """The steps directly under the `Read` transform, in the order they were applied."""

    def __init__(self):
        self.steps = []

    def enter_composite_transform(self, node):
        self.visit_transform(node)

    def visit_transform(self, node):
        if node.full_label.count("/") == 1 and node.full_label.startswith("Read/"):
            self.steps.append(node)


def test_read_inputs_over_a_mix_of_sources(fixtures, tmp_path):
    config = ReaderConfig(commoncrawl_base_url=str(tmp_path / "mirror"))
    p = TestPipeline()
    records = p | "Read" >> ReadInputs(_inputs(fixtures, tmp_path), config)
    pile = [
        ("Document", "pile", f"pile:blns-{n}.jsonl.zst:{i}") for n in (1, 2) for i in range(1, 5)
    ]
    expected = pile + [
        ("Document", "web", "<urn:uuid:2aabeff2-67f5-4608-8466-e87c6296e2b6>"),
        ("Document", "code", "o/a:a.py"),
        ("Document", "code", "o/b:src/main.rs"),
        ("Rejected", "code", "o/c:main.c", "license"),
        ("Rejected", "code", "o/d:vendor/lib/x.py", "vendored"),
        ("Document", "cc", "<urn:uuid:ba729a40-ff84-4085-8d48-0a5b2ee0c42d>"),
        ("DeadLetter", "cc", "gone.warc.wet.gz", "read failed after 0 "),
        ("DeadLetter", "none", "*.jsonl", "input pattern matche"),
    ]
    assert_that(records | beam.Map(_summary), equal_to(expected))
    langs = records | beam.Filter(lambda r: isinstance(r, Document) and r.source == "code")
    assert_that(
        langs | beam.Map(lambda d: (d.lang, d.url)),
        equal_to(
            [
                ("python", "https://github.com/o/a/blob/HEAD/a.py"),
                ("rust", "https://github.com/o/b/blob/HEAD/src/main.rs"),
            ]
        ),
        label="CodeLanguagesAndUrls",
    )

    # The graph: Create -> Match -> Reshuffle -> Read, each step fed by the one before.
    visitor = _ReadSteps()
    p.visit(visitor)
    steps = visitor.steps
    assert [(s.full_label, type(s.transform)) for s in steps] == [
        ("Read/Patterns", beam.Create),
        ("Read/Match", beam.ParDo),
        ("Read/SpreadFiles", beam.Reshuffle),
        ("Read/ReadRecords", beam.ParDo),
    ]
    assert isinstance(steps[1].transform.fn, _MatchFiles)
    assert isinstance(steps[3].transform.fn, _ReadFiles)
    for before, after in itertools.pairwise(steps):
        (fed_by,) = after.main_inputs.values()
        assert fed_by.producer.full_label.startswith(before.full_label)

    result = p.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("Read"))["counters"]
    }
    assert counters["records"] == 8 + 1 + 4 + 1  # Documents and Rejected
    assert counters["dead_letters"] == 2
    assert (counters["dropped_license"], counters["dropped_vendored"]) == (1, 1)
    assert counters["files"] == 2 + 1 + 1 + 2  # the listing's two files, not the listing
