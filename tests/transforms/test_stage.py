"""The one DoFn every per-document stage runs in, alone or fused (transforms/stage.py)."""

from __future__ import annotations

import dataclasses

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.document import Document, Rejected
from transforms.stage import ApplyStep, ApplySteps, DocumentStep, Drop

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


class ShortOnly(DocumentStep):
    """Drops documents of more than 6 words (upper-cased ones, after Parity)."""

    stage = "short"

    def apply(self, doc):
        return Drop(doc, "long") if len(doc.text.split()) > 6 else doc


def test_fused_steps_give_what_the_stages_one_after_another_give():
    """Each document goes through the steps in order; a drop names the step that dropped it,
    and each step counts under its own name, as when each stage is its own ParDo."""
    expected = [
        ("dropped", d.id, "short", "long") if o[0] == "kept" and i > 6 else o
        for i, (d, o) in enumerate(zip(DOCS, EXPECTED, strict=True))
    ]
    for batch_size in (0, 2):
        with TestPipeline() as pipeline:
            out = pipeline | beam.Create(DOCS) | ApplySteps((Parity(batch_size), ShortOnly()))
            assert_that(out | beam.Map(_outcomes), equal_to(expected))
    with TestPipeline() as pipeline:
        one_by_one = pipeline | beam.Create(DOCS) | "P" >> ApplyStep(Parity())
        kept = one_by_one | beam.Filter(lambda x: isinstance(x, Document))
        dropped = one_by_one | beam.Filter(lambda x: isinstance(x, Rejected))
        both = (dropped, kept | "S" >> ApplyStep(ShortOnly())) | beam.Flatten()
        assert_that(both | beam.Map(_outcomes), equal_to(expected))


def test_fused_steps_count_per_step():
    pipeline = TestPipeline()
    _ = pipeline | beam.Create(DOCS) | ApplySteps((Parity(), ShortOnly()))
    result = pipeline.run()
    result.wait_until_finish()
    counters = {
        (c.key.metric.namespace, c.key.metric.name): c.committed
        for c in result.metrics().query()["counters"]
        if c.key.metric.namespace in ("parity", "short")
    }
    assert counters == {
        ("parity", "kept"): 5,
        ("parity", "dropped_odd"): 5,
        ("short", "kept"): 4,  # parity keeps d0, d2, d4, d6, d8; d8 is too long
        ("short", "dropped_long"): 1,
    }
