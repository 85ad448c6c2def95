"""Dask's `sizeof` for this pipeline's records, so that a Dask worker knows how much its
stored results hold and spills them to disk in time.

Dask decides when to spill by the sizes it estimates for task results. For a type it does
not know it counts `sys.getsizeof`: for a Document, its slots, about 100 bytes, whatever
its text and scores hold (often 5-10 KB). A partition of documents then looked like a
few MB, Dask kept every one in memory as "unmanaged" memory, and a 2 GB run's workers
reached the nanny's 95% limit and were restarted instead of spilling.

`register` is the `dask.sizeof` entry point (pyproject.toml): Dask calls it in every
process that imports `dask.sizeof`, workers included, and the records' modules are only
imported when Dask first sizes one of their objects.
"""

from __future__ import annotations

import dataclasses
import sys

WINDOWED_VALUE_OVERHEAD = 64  # a WindowedValue's own slots around its value


def register(sizeof) -> None:
    """Teach Dask's `sizeof` dispatcher the records of schemas and transforms, and Beam's
    WindowedValue (what a grouping shuffles)."""

    def record_size(record) -> int:
        fields = dataclasses.fields(record)
        return sys.getsizeof(record) + sum(sizeof(getattr(record, f.name)) for f in fields)

    @sizeof.register_lazy("schemas")
    def _schemas():
        from schemas.document import DeadLetter, Document, FileRead, Rejected

        sizeof.register((Document, Rejected, DeadLetter, FileRead), record_size)

    @sizeof.register_lazy("transforms")
    def _transforms():
        from transforms.near_dedup.transform import Assignment
        from transforms.tokenize import EncodedDocument

        sizeof.register((EncodedDocument, Assignment), record_size)

    @sizeof.register_lazy("apache_beam")
    def _beam():
        from apache_beam.utils.windowed_value import WindowedValue

        @sizeof.register(WindowedValue)
        def windowed_value_size(value) -> int:
            return WINDOWED_VALUE_OVERHEAD + sizeof(value.value)
