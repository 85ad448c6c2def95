"""What a stage is, and the one DoFn that applies a per-document stage.

A stage module declares a `Stage`: its name (the key of its settings under `stages:`, its
name in the manifest, in `rejected/` and as the Beam step label), how its settings are
built from a mapping, and the PTransform that runs it. The pipelines list stages in one
ordered registry (`pipelines/stages.py`).

A per-document stage is a Beam-free `DocumentStep`: `apply(doc)` returns the document to
keep (changed or not) or a `Drop`. `ApplyStep` runs it: it loads the step's models once
per DoFn instance (`setup`), batches when the step asks for it, counts what was kept and
dropped per reason in Beam Metrics, and emits Documents and Rejected records.
`ApplySteps` runs several in one ParDo (the pipelines fuse consecutive ones).

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
    """Applies DocumentSteps in turn; one copy of each step per DoFn instance, so per
    thread. With `batched`, each element is a list of Documents."""

    def __init__(self, steps: tuple[DocumentStep, ...], batched: bool):
        super().__init__()
        self.steps = steps
        self.batched = batched

    def setup(self):
        self.steps = tuple(copy.copy(step) for step in self.steps)  # models: this instance's
        for step in self.steps:
            step.setup()

    def process(self, element):
        docs = element if self.batched else (element,)
        for step in self.steps:
            kept = []
            for result in _results(step, docs):
                if isinstance(result, Drop):
                    yield self.reject(result.doc, result.reason, stage=step.stage)
                else:
                    kept.append(self.keep(result, stage=step.stage))
            docs = kept
        yield from docs


def _results(step: DocumentStep, docs) -> list:
    """The step's result for each of `docs`, in order; a batching step gets them in lists
    of at most its `batch_size`."""
    if not step.batch_size:
        return [step.apply(doc) for doc in docs]
    size = step.batch_size
    return [r for at in range(0, len(docs), size) for r in step.apply_batch(docs[at : at + size])]


class ApplySteps(beam.PTransform):
    """Documents -> the Documents every step keeps, in turn, and Rejected(stage=the step
    that dropped them). One ParDo for all: consecutive per-document stages cost one pass
    over the documents, not one each (and one batching when a step batches)."""

    def __init__(self, steps: tuple[DocumentStep, ...]):
        super().__init__()
        self.steps = tuple(steps)

    def expand(self, docs):
        batch_size = max(step.batch_size for step in self.steps)
        if batch_size:
            docs = docs | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=batch_size)
        return docs | "Apply" >> beam.ParDo(_ApplyFn(self.steps, batched=batch_size > 0))


class ApplyStep(ApplySteps):
    """Documents -> Documents (as the step keeps them) and Rejected(stage=step.stage)."""

    def __init__(self, step: DocumentStep):
        super().__init__((step,))
