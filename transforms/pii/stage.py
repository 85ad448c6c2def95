"""The PII stage in the pipeline: redact, count per entity type, drop documents with too many.
Source code is only scrubbed of `code_entities` (e-mail addresses by default). Also the steps
that redact `rejected/` and `dead_letter/` with the same settings (dropped.py)."""

from __future__ import annotations

import dataclasses
import functools

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.pii import DROP_PII, FULL, REDACTED, STAGE, PiiConfig, Scrubber, redact
from transforms.pii.dropped import redact_dead_letters, redact_rejected
from transforms.stage import ApplyStep, DocumentStep, Drop, Stage


class PiiStep(DocumentStep):
    """A batch of documents: spans found together, each document redacted and scored
    (`pii.hits`, `pii.<TYPE>`), or dropped with more than `max_hits` spans."""

    stage = STAGE

    def __init__(self, config: PiiConfig):
        self.config = config
        self.batch_size = config.batch_size
        self._scrubber: Scrubber | None = None

    def setup(self):
        self._scrubber = Scrubber(self.config)

    def apply_batch(self, docs):
        allowed = [self._scrubber.allowed(d.source) for d in docs]
        found = self._scrubber.spans_batch([d.text for d in docs], allowed)
        return [self._decide(doc, spans) for doc, spans in zip(docs, found, strict=True)]

    def _decide(self, doc, spans):
        counts: dict[str, float] = {}
        for s in spans:
            counts[f"pii.{s.entity_type}"] = counts.get(f"pii.{s.entity_type}", 0.0) + 1.0
        scored = dataclasses.replace(
            doc, scores={**doc.scores, "pii.hits": float(len(spans)), **counts}
        )
        dropped = self.config.max_hits is not None and len(spans) > self.config.max_hits
        # A dropped document keeps its text when rejected/ stores it in full.
        if spans and not (dropped and self.config.rejected_text != REDACTED):
            scored = dataclasses.replace(scored, text=redact(doc.text, spans, self.config))
        return Drop(scored, DROP_PII) if dropped else scored


class PiiRedaction(ApplyStep):
    """Documents -> Documents with PII replaced (scores `pii.hits`, `pii.<TYPE>`), and
    Rejected(reason=pii) for documents with more than `max_hits` spans."""

    def __init__(self, config: PiiConfig | None = None):
        super().__init__(PiiStep(config or PiiConfig()))


PII = Stage(STAGE, PiiConfig.from_dict, PiiRedaction, code_aware=True)


class _RedactBatch(beam.DoFn):
    """Applies `redact(scrubber, batch)` to each batch; the Scrubber loads once per instance."""

    def __init__(self, config: PiiConfig, redact_batch, counter: str):
        self.config = config
        self._redact_batch = redact_batch
        self._counter_name = counter
        self._scrubber = self._counter = None

    def setup(self):
        self._scrubber = Scrubber(self.config)
        self._counter = Metrics.counter(STAGE, self._counter_name)

    def process(self, batch):
        out = self._redact_batch(self._scrubber, batch)
        self._counter.inc(sum(a is not b for a, b in zip(batch, out, strict=True)))
        yield from out


class _RedactDropped(beam.PTransform):
    def __init__(self, config: PiiConfig, enabled: bool, redact_batch, counter: str):
        super().__init__()
        self.config, self.enabled = config, enabled
        self._redact_batch, self._counter = redact_batch, counter

    def expand(self, records):
        if not self.enabled:
            return records
        return (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.config.batch_size)
            | "Redact" >> beam.ParDo(_RedactBatch(self.config, self._redact_batch, self._counter))
        )


class RedactRejected(_RedactDropped):
    """Rejected -> the same Rejected, the document text redacted with the PII settings
    (unless `config.rejected_text` is "full"). `redacted_stages`: names of the stages whose
    drops are redacted already (the PII stage and those after it); they pass unchanged."""

    def __init__(self, config: PiiConfig | None = None, redacted_stages=(STAGE,)):
        config = config or PiiConfig()
        redact_batch = functools.partial(redact_rejected, redacted_stages=tuple(redacted_stages))
        super().__init__(config, config.rejected_text != FULL, redact_batch, "redacted_rejected")


class RedactDeadLetters(_RedactDropped):
    """DeadLetter -> the same DeadLetter, its snippet redacted with the PII settings (unless
    `config.dead_letter_snippets` is "full")."""

    def __init__(self, config: PiiConfig | None = None):
        config = config or PiiConfig()
        enabled = config.dead_letter_snippets != FULL
        super().__init__(config, enabled, redact_dead_letters, "redacted_dead_letters")
