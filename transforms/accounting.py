"""Count what happened to every record, per input file, so nothing is lost silently.

Every record read becomes exactly one event: kept, dropped (stage, reason) or
dead-lettered. Counts are computed in the graph (not from Beam Metrics, which not every
runner reports) and end up in the manifest.
"""

from __future__ import annotations

import apache_beam as beam

KEPT = "kept"
DROPPED = "dropped"
DEAD_LETTER = "dead_letter"


def kept_event(doc) -> tuple:
    return (KEPT, doc.source, doc.source_file, None, None)


def dropped_event(rejected) -> tuple:
    doc = rejected.doc
    return (DROPPED, doc.source, doc.source_file, rejected.stage, rejected.reason)


def dead_letter_event(dead) -> tuple:
    return (DEAD_LETTER, dead.source, dead.source_file, None, None)


class CountOutcomes(beam.PTransform):
    """(kept docs, rejected, dead letters) -> [(event, count)] with event tuples
    (kind, source, file, stage, reason)."""

    def expand(self, pcolls):
        kept, rejected, dead = pcolls
        return (
            (
                kept | "KeptEvents" >> beam.Map(kept_event),
                rejected | "DroppedEvents" >> beam.Map(dropped_event),
                dead | "DeadLetterEvents" >> beam.Map(dead_letter_event),
            )
            | "AllEvents" >> beam.Flatten()
            | "CountEvents" >> beam.combiners.Count.PerElement()
        )
