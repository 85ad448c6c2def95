"""The one DoFn every per-document stage runs in (transforms/stage.py)."""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import Document, Rejected
from transforms.stage import ApplyStep, DocumentStep, Drop

DOCS = [Document(f"d{i}", "word " * i, "web", "f") for i in range(10)]


class Parity(DocumentStep):
    """Drops odd-length documents, upper-cases the rest; `setup` loads its 'model'."""

    stage = "parity"

    def __init__(self, batch_size: int = 0):
        self.batch_size = batch_size
        self.model = None
        self.batches: list[int] = []

    def setup(self):
        self.model = str.upper

    def apply(self, doc):
        words = len(doc.text.split())
        return (
            Drop(doc, "odd") if words % 2 else dataclasses.replace(doc, text=self.model(doc.text))
        )

    def apply_batch(self, docs):
        assert len(docs) <= self.batch_size
        return super().apply_batch(docs)


def _outcomes(element):
    if isinstance(element, Rejected):
        return ("dropped", element.doc.id, element.stage, element.reason)
    return ("kept", element.id, element.text)


EXPECTED = [
    ("dropped", d.id, "parity", "odd") if i % 2 else ("kept", d.id, d.text.upper())
    for i, d in enumerate(DOCS)
]


def test_kept_changed_and_dropped_documents_come_out_counted():
    pipeline = TestPipeline()
    out = pipeline | beam.Create(DOCS) | ApplyStep(Parity())
    assert_that(out | beam.Map(_outcomes), equal_to(EXPECTED))
    result = pipeline.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("parity"))["counters"]
    }
    assert counters == {"kept": 5, "dropped_odd": 5}


def test_a_batched_step_gives_each_document_the_same_result():
    with TestPipeline() as pipeline:
        out = pipeline | beam.Create(DOCS) | ApplyStep(Parity(batch_size=3))
        assert_that(out | beam.Map(_outcomes), equal_to(EXPECTED))


def test_models_load_on_the_worker_not_in_the_step_the_graph_holds():
    step = Parity()
    with TestPipeline() as pipeline:
        _ = pipeline | beam.Create(DOCS) | ApplyStep(step)
    assert step.model is None
