"""Helpers every stage shares: splitting mixed outputs portably, and counting."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.document import Rejected


def split_by_type(pcoll, label: str, bulk: type, *others: type) -> tuple:
    """One PCollection per type in (`bulk`, *`others`), each holding the elements of that
    type.

    Stages emit a single mixed PCollection (e.g. Document | Rejected) that this splits with
    plain filters. Tagged outputs would be the idiomatic way, but the DaskRunner of
    apache-beam 2.77 sends every tagged output to every consumer, so they are not used.
    `bulk` is the type of most of the data: the `others` are split from one filter of what
    is not `bulk`, so `pcoll` has two readers whatever the number of types. On Dask each
    reader of a partition is a task of its own that may run on another worker, moving the
    whole partition there: on the 2 GB scale corpus the reads' dead-letter and per-file
    count filters each waited seconds for partitions of ~90 MB of text, to keep a few
    records.
    """
    kept = pcoll | f"{label}/{bulk.__name__}" >> beam.Filter(lambda x: isinstance(x, bulk))
    if len(others) < 2:
        rest = pcoll
    else:
        rest = pcoll | f"{label}/Not{bulk.__name__}" >> beam.Filter(
            lambda x: not isinstance(x, bulk)
        )
    return kept, *(
        rest | f"{label}/{t.__name__}" >> beam.Filter(lambda x, t=t: isinstance(x, t))
        for t in others
    )


class CountingDoFn(beam.DoFn):
    """A DoFn that counts kept and rejected documents per reason in Beam Metrics, under its
    `stage` (or the stage a call names: a DoFn that runs several stages)."""

    stage = "Stage"

    def __init__(self):
        self._counters = {}

    def reject(
        self, doc, reason: str, duplicate_of: str | None = None, stage: str | None = None
    ) -> Rejected:
        """Count the drop and return the Rejected record to emit."""
        stage = stage or self.stage
        self._counter(stage, f"dropped_{reason}").inc()
        return Rejected(doc, stage, reason, duplicate_of)

    def keep(self, doc, stage: str | None = None):
        self._counter(stage or self.stage, "kept").inc()
        return doc

    def _counter(self, stage: str, name: str):
        if (stage, name) not in self._counters:
            self._counters[stage, name] = Metrics.counter(stage, name)
        return self._counters[stage, name]


SMALL_GROUPINGS_URN = "curate:small_groupings:v1"


class SmallGroupings(beam.PTransform):
    """Base of a composite whose groupings hold little data whatever the corpus size (ids,
    edges, ranks: about 1% of the documents' bytes). A runner may spread them over fewer
    partitions than the documents' groupings (pipelines.dask_compat does); what they
    compute does not change. Its own URN keeps the mark through the runner API round trip
    Beam makes before a non-portable runner (the DaskRunner) sees the graph."""

    def to_runner_api_parameter(self, unused_context):
        return SMALL_GROUPINGS_URN, None


@beam.PTransform.register_urn(SMALL_GROUPINGS_URN, None)
def _small_groupings_from_runner_api(unused_proto, unused_payload, unused_context):
    return SmallGroupings()
