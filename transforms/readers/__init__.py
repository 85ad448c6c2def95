"""Read every input into Documents; what cannot be read becomes a DeadLetter.

Files are matched, spread across workers (Reshuffle), then streamed record by record by
the reader registered for their suffix. Adding a format is one entry in READERS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from schemas.document import DeadLetter, Document, Rejected
from transforms.readers import jsonl
from transforms.readers.files import InputFile, relative_to_root

# Readers may also emit Rejected(doc, READ_STAGE, reason) for records that are readable
# but not wanted (e.g. a non-HTML response); they are counted like any other drop.
READ_STAGE = "read"

RecordReader = Callable[[InputFile, BinaryIO], Iterator[Document | DeadLetter | Rejected]]

# (file name suffixes, reader). The first entry whose suffix matches wins.
READERS: list[tuple[tuple[str, ...], RecordReader]] = [
    (jsonl.SUFFIXES, jsonl.read_jsonl),
]


def reader_for(path: str) -> RecordReader | None:
    """The reader registered for `path`'s suffix, or None."""
    lower = path.lower()
    for suffixes, reader in READERS:
        if lower.endswith(suffixes):
            return reader
    return None


def read_file(file: InputFile) -> Iterator[Document | DeadLetter]:
    """All records of one file. Never raises: anything unexpected becomes a DeadLetter."""
    reader = reader_for(file.path)
    if reader is None:
        yield DeadLetter(file.source, file.path, "unsupported file type (no reader for its suffix)")
        return
    if file.size == 0:
        yield DeadLetter(file.source, file.path, "empty file", offset=0)
        return
    records = 0
    try:
        with FileSystems.open(file.path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            for record in reader(file, handle):
                records += 1
                yield record
    except Exception as err:  # noqa: BLE001 - one bad file must not kill the job
        yield DeadLetter(
            file.source, file.path, f"read failed after {records} records: {err!r}", records + 1
        )
        return
    if records == 0:
        yield DeadLetter(file.source, file.path, "file holds no records", offset=0)


class _MatchFiles(beam.DoFn):
    """(source, pattern) -> InputFile per match, or a DeadLetter if nothing matches."""

    def process(self, source_and_pattern):
        source, pattern = source_and_pattern
        try:
            metadata = FileSystems.match([pattern])[0].metadata_list
        except Exception as err:  # noqa: BLE001
            yield DeadLetter(source, pattern, f"cannot list input pattern: {err!r}")
            return
        if not metadata:
            yield DeadLetter(source, pattern, "input pattern matched no files")
        for meta in sorted(metadata, key=lambda m: m.path):
            yield InputFile(
                source, meta.path, relative_to_root(meta.path, pattern), meta.size_in_bytes
            )


class _ReadFiles(beam.DoFn):
    def __init__(self):
        self.records = Metrics.counter("Read", "records")
        self.dead = Metrics.counter("Read", "dead_letters")
        self.bytes = Metrics.counter("Read", "bytes")

    def process(self, item):
        if isinstance(item, DeadLetter):
            self.dead.inc()
            yield item
            return
        self.bytes.inc(item.size)
        for record in read_file(item):
            (self.dead if isinstance(record, DeadLetter) else self.records).inc()
            yield record


class ReadInputs(beam.PTransform):
    """[(source name, file pattern)] -> a PCollection of Document and DeadLetter."""

    def __init__(self, inputs: list[tuple[str, str]]):
        super().__init__()
        self.inputs = list(inputs)

    def expand(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(self.inputs)
            | "Match" >> beam.ParDo(_MatchFiles())
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadRecords" >> beam.ParDo(_ReadFiles())
        )
