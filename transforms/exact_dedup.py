"""Exact deduplication: one survivor per identical normalized text.

The survivor is the document with the smallest stable hash of its id, ties broken on
content (id, source, file, then every other field: copies of one page in two crawls
often share an id), so the choice never depends on the order documents arrive in.
"""

from __future__ import annotations

import apache_beam as beam

from schemas.document import Document, document_order, stable_hash64, text_key
from transforms.common import CountingDoFn
from transforms.stage import Stage

STAGE = "exact_dedup"
DROP_EXACT_DUP = "exact_dup"


def exact_survivor_rank(doc: Document) -> tuple:
    """Rank of a document among the copies of one text: the smallest is kept. A stable
    hash of the id spreads survivors fairly across sources."""
    return stable_hash64(doc.id), *document_order(doc)


class _KeepOnePerText(CountingDoFn):
    stage = STAGE

    def process(self, keyed):
        docs = list(keyed[1])
        best = min(range(len(docs)), key=lambda i: exact_survivor_rank(docs[i]))
        for i, doc in enumerate(docs):
            if i == best:
                yield self.keep(doc)
            else:
                yield self.reject(doc, DROP_EXACT_DUP, duplicate_of=docs[best].id)


class ExactDedup(beam.PTransform):
    """Documents -> one Document per distinct text, Rejected(reason=exact_dup) for the rest."""

    def expand(self, docs):
        return (
            docs
            | "KeyByTextHash" >> beam.Map(lambda d: (text_key(d.text), d))
            | "GroupByText" >> beam.GroupByKey()
            | "KeepOnePerText" >> beam.ParDo(_KeepOnePerText())
        )


EXACT_DEDUP = Stage(STAGE, transform=lambda _settings: ExactDedup())
