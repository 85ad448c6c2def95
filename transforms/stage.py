"""What a stage is, and the one DoFn that applies a per-document stage.

A stage module declares a `Stage`: its name (the key of its settings under `stages:`, its
name in the manifest, in `rejected/` and as the Beam step label), how its settings are
built from a mapping, and the PTransform that runs it. The pipelines list stages in one
ordered registry (`pipelines/stages.py`).

A per-document stage is a Beam-free `DocumentStep`: `apply(doc)` returns the document to
keep (changed or not) or a `Drop`. `ApplyStep` runs it: it loads the step's models once
per DoFn instance (`setup`), batches when the step asks for it, counts what was kept and
dropped per reason in Beam Metrics, and emits Documents and Rejected records.

    docs | "quality" >> ApplyStep(QualityStep(config))   # -> Document | Rejected
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import apache_beam as beam

from schemas.document import Document
from transforms.common import CountingDoFn

# Where a stage runs in the curate graph.
FILES = "files"  # turns input files into Documents (the first stage)
DOCUMENTS = "documents"  # Documents -> Documents | Rejected, in registry order
TOKENS = "tokens"  # EncodedDocuments -> EncodedDocuments | Rejected, after tokenization


@dataclass(frozen=True)
class Stage:
    """A stage as the pipelines see it.

    name:       settings key (`stages: {name: ...}`), manifest and `rejected/` stage name,
                Beam step label.
    settings:   mapping (or None) -> the stage's frozen config; unknown keys raise
                ValueError naming them. None: the stage has no settings.
    transform:  config -> the PTransform that runs the stage (for a DOCUMENTS stage:
                Documents -> Document | Rejected). None for the FILES stage (reading),
                which each pipeline wires itself.
    code_aware: the stage treats code sources apart; its config gets `code_sources` from
                `--code_sources` (setting it under `stages:` is an error).
    runs_on:    FILES, DOCUMENTS or TOKENS.
    active:     config -> whether the stage runs at all (balance only with targets); an
                inactive stage is left out of the graph and the manifest.

    A stage's transform returns its records (Documents or EncodedDocuments, and Rejected),
    or a pair: the records and a one-element PCollection of a JSON-able dict, written in
    the manifest under the stage's name (balance: how it chose the mix).
    """

    name: str
    settings: Callable[[Mapping | None], Any] | None = None
    transform: Callable[[Any], beam.PTransform] | None = None
    code_aware: bool = False
    runs_on: str = DOCUMENTS
    active: Callable[[Any], bool] = lambda _config: True


@dataclass(frozen=True, slots=True)
class Drop:
    """A step's verdict: drop `doc` (as scored, with the signals that decided) for `reason`."""

    doc: Document
    reason: str


class DocumentStep:
    """A per-document stage without Beam.

    Subclasses set `stage` (the stage name) and implement `apply`; `setup` loads models
    (called once per DoFn instance, on the worker); `batch_size` > 0 makes `ApplyStep`
    hand `apply_batch` lists of up to that many documents (for models that are faster on
    batches). A step must give each document the same result whatever else is in its
    batch."""

    stage = "stage"
    batch_size = 0

    def setup(self) -> None:
        """Load what `apply` needs (models, analyzers); runs on the worker."""

    def apply(self, doc: Document) -> Document | Drop:
        raise NotImplementedError

    def apply_batch(self, docs: list[Document]) -> list[Document | Drop]:
        return [self.apply(doc) for doc in docs]


class _ApplyFn(CountingDoFn):
    """Applies a DocumentStep; one copy of the step per DoFn instance, so per thread."""

    def __init__(self, step: DocumentStep):
        super().__init__()
        self.step = step
        self.stage = step.stage

    def setup(self):
        self.step = copy.copy(self.step)  # models loaded here are this instance's alone
        self.step.setup()

    def process(self, element):
        if self.step.batch_size:
            results = self.step.apply_batch(element)
        else:
            results = (self.step.apply(element),)
        for result in results:
            if isinstance(result, Drop):
                yield self.reject(result.doc, result.reason)
            else:
                yield self.keep(result)


class ApplyStep(beam.PTransform):
    """Documents -> Documents (as the step keeps them) and Rejected(stage=step.stage)."""

    def __init__(self, step: DocumentStep):
        super().__init__()
        self.step = step

    def expand(self, docs):
        if self.step.batch_size:
            docs = docs | "Batch" >> beam.BatchElements(
                min_batch_size=1, max_batch_size=self.step.batch_size
            )
        return docs | "Apply" >> beam.ParDo(_ApplyFn(self.step))
