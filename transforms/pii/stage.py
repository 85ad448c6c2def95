"""The PII stage in the pipeline: redact, count per entity type, drop documents with too many.
Source code is only scrubbed of `code_entities` (e-mail addresses by default)."""

from __future__ import annotations

import dataclasses

import apache_beam as beam

from transforms.common import CountingDoFn
from transforms.pii import DROP_PII, STAGE, PiiConfig, Scrubber, redact


class _ScrubBatch(CountingDoFn):
    stage = STAGE

    def __init__(self, config: PiiConfig):
        super().__init__()
        self.config = config
        self._scrubber = None

    def setup(self):
        self._scrubber = Scrubber(self.config)

    def process(self, docs):
        code = self.config.code_sources
        allowed = [self.config.code_entities if d.source in code else None for d in docs]
        found = self._scrubber.spans_batch([d.text for d in docs], allowed)
        for doc, spans in zip(docs, found, strict=True):
            counts: dict[str, float] = {}
            for s in spans:
                key = f"pii.{s.entity_type}"
                counts[key] = counts.get(key, 0.0) + 1.0
                self._counter(f"found_{s.entity_type}").inc()
            scored = dataclasses.replace(
                doc, scores={**doc.scores, "pii.hits": float(len(spans)), **counts}
            )
            if self.config.max_hits is not None and len(spans) > self.config.max_hits:
                yield self.reject(scored, DROP_PII)
                continue
            if spans:
                self._counter("redacted_documents").inc()
                scored = dataclasses.replace(scored, text=redact(doc.text, spans, self.config))
            yield self.keep(scored)


class PiiRedaction(beam.PTransform):
    """Documents -> Documents with PII replaced (scores `pii.hits`, `pii.<TYPE>`), and
    Rejected(reason=pii) for documents with more than `max_hits` spans."""

    def __init__(self, config: PiiConfig | None = None):
        super().__init__()
        self.config = config or PiiConfig()

    def expand(self, docs):
        return (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.config.batch_size)
            | "Scrub" >> beam.ParDo(_ScrubBatch(self.config))
        )
