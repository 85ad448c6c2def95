"""Read every input into Documents; what cannot be read becomes a DeadLetter.

Patterns are matched (a Common Crawl `*.paths.gz` listing expands to the files it names),
the files are spread across workers (Reshuffle), then each is streamed record by record by
the reader registered for its suffix. Adding a format is one entry in READERS. Patterns,
listings and the files they name may be http(s):// URLs (`http.py`).

Formats: JSON lines (C4, CCNet/Dolma, the Pile, The Stack-style code), WARC (HTML pages
-> main text), WET (Common Crawl's text), Parquet (text datasets and The Stack).
Readable but unwanted records leave as `Rejected(doc, READ_STAGE, reason)` (reasons in
`reasons.py`); all settings are one `ReaderConfig`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from schemas.document import DeadLetter, Document, FileRead, Rejected
from transforms.progress import LOCAL_PROGRESS
from transforms.readers import http as _http  # noqa: F401 - registers http(s):// filesystems
from transforms.readers import jsonl, listings, parquet, warc
from transforms.readers.config import DEFAULT_CONFIG, ReaderConfig
from transforms.readers.files import InputFile, relative_to_root
from transforms.readers.reasons import READ_STAGE
from transforms.readers.records import encoding_error, writable, writable_letter
from transforms.stage import FILES, Stage

__all__ = [
    "READERS",
    "READ_STAGE",
    "ReadInputs",
    "ReaderConfig",
    "match_input_files",
    "read_file",
    "reader_for",
]

# reader(file, handle, *, config=DEFAULT_CONFIG) -> records. `handle` is the raw (still
# compressed) binary file; readers decompress and stream it themselves.
RecordReader = Callable[..., Iterator[Document | DeadLetter | Rejected]]

# (file name suffixes, reader). The first entry whose suffix matches wins, so the WET
# entry comes before WARC (`x.warc.wet.gz`).
READERS: list[tuple[tuple[str, ...], RecordReader]] = [
    (jsonl.SUFFIXES, jsonl.read_jsonl),
    (warc.WET_SUFFIXES, warc.read_wet),
    (warc.WARC_SUFFIXES, warc.read_warc),
    (parquet.SUFFIXES, parquet.read_parquet),
]


def reader_for(path: str) -> RecordReader | None:
    """The reader registered for `path`'s suffix, or None."""
    lower = path.lower()
    for suffixes, reader in READERS:
        if lower.endswith(suffixes):
            return reader
    return None


def read_file(
    file: InputFile, config: ReaderConfig = DEFAULT_CONFIG
) -> Iterator[Document | Rejected | DeadLetter]:
    """All records of one file. Never raises: anything unexpected becomes a DeadLetter, and
    everything handed out can be encoded as UTF-8 (`records.py`)."""
    for record in _read_file(file, config):
        if isinstance(record, DeadLetter):
            yield writable_letter(record)
        elif error := encoding_error(record):
            # Readers check their records where they know the line; this is the backstop.
            doc = record.doc if isinstance(record, Rejected) else record
            yield DeadLetter(
                file.source, file.path, f"{error} (record {writable(doc.id)!r})", None, None
            )
        else:
            yield record


def _read_file(file: InputFile, config: ReaderConfig) -> Iterator[Document | Rejected | DeadLetter]:
    reader = reader_for(file.path)
    if reader is None:
        yield DeadLetter(file.source, file.path, "unsupported file type (no reader for its suffix)")
        return
    if file.size == 0:
        yield DeadLetter(file.source, file.path, "empty file", offset=0)
        return
    if writable(file.path) != file.path:
        # Every record would carry the path, and no output can hold it.
        yield DeadLetter(file.source, file.path, "the file's path is not valid UTF-8", offset=0)
        return
    records = 0
    handle = None
    try:
        with FileSystems.open(file.path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            try:
                for record in reader(file, handle, config=config):
                    records += 1
                    yield record
            except Exception as err:  # noqa: BLE001 - one bad file must not kill the job
                # While the handle is open, it can still say how far reading got.
                unread = _unread(handle, file.size)
                error = f"read failed after {records} records: {err!r}; {unread}"
                yield DeadLetter(file.source, file.path, error, records + 1)
                return
    except Exception as err:  # noqa: BLE001 - the file cannot be opened (or closed)
        error = f"read failed after {records} records: {err!r}; {_unread(handle, file.size)}"
        yield DeadLetter(file.source, file.path, error, records + 1)
        return
    # A WARC may rightly hold no page (only warcinfo, request or metadata records, which
    # are counted in Beam metrics); any other non-empty file without a record is suspect.
    if records == 0 and reader not in (warc.read_warc, warc.read_wet):
        yield DeadLetter(file.source, file.path, "file holds no records", offset=0)


def _unread(handle, size: int) -> str:
    """How many raw bytes of the file a failed read left behind, as far as is known."""
    try:
        position = handle.tell()
    except Exception:  # noqa: BLE001 - closed, unopened or unseekable
        position = None
    if position is None or size < 0:
        return "how much of the file was left unread is unknown"
    return f"{max(size - position, 0)} of its {size} raw bytes left unread"


def match_input_files(
    source: str, pattern: str, config: ReaderConfig = DEFAULT_CONFIG
) -> Iterator[InputFile | DeadLetter]:
    """The files `pattern` names, in path order (listings expanded), as InputFiles; a
    pattern that cannot be listed or matches nothing becomes a DeadLetter."""
    try:
        metadata = FileSystems.match([pattern])[0].metadata_list
    except Exception as err:  # noqa: BLE001
        yield DeadLetter(source, pattern, f"cannot list input pattern: {err!r}")
        return
    if not metadata:
        yield DeadLetter(source, pattern, "input pattern matched no files")
    for meta in sorted(metadata, key=lambda m: m.path):
        if "://" not in meta.path and os.path.isdir(meta.path):
            # A local directory matches itself; reading it would fail on its suffix.
            error = "a directory, not a file: name its files with a glob (DIR/*.jsonl.gz)"
            yield DeadLetter(source, meta.path, error)
        elif listings.is_listing(meta.path):
            yield from listings.expand_listing(source, meta.path, config)
        else:
            relative = relative_to_root(meta.path, pattern)
            yield InputFile(
                source, meta.path, relative, meta.size_in_bytes, meta.last_updated_in_seconds
            )


class _MatchFiles(beam.DoFn):
    """(source, pattern) -> InputFile per match (listings expanded), or DeadLetters; with
    `only_files`, files not in it are left out (an incremental run reads only new files)."""

    def __init__(self, config: ReaderConfig = DEFAULT_CONFIG, only_files=None):
        self.config = config
        self.only_files = only_files

    def process(self, source_and_pattern):
        for item in match_input_files(*source_and_pattern, self.config):
            if self.only_files is None or not isinstance(item, InputFile):
                yield item
            elif item.path in self.only_files:
                yield item


_PROGRESS_EVERY = 256  # records between updates of the live progress totals


class _ReadFiles(beam.DoFn):
    """InputFile -> its records; a DeadLetter from matching passes through. With
    `with_counts`, a FileRead with the number of records follows each file."""

    def __init__(self, config: ReaderConfig = DEFAULT_CONFIG, with_counts: bool = False):
        self.config = config
        self.with_counts = with_counts
        self.records = Metrics.counter("Read", "records")
        self.dead = Metrics.counter("Read", "dead_letters")
        self.bytes = Metrics.counter("Read", "bytes")
        self.files = Metrics.counter("Read", "files")
        self._dropped = {}

    def process(self, item):
        if isinstance(item, DeadLetter):
            self.dead.inc()
            yield item
            if self.with_counts:
                yield FileRead(item.source, writable(item.source_file), 1)
            return
        self.files.inc()
        LOCAL_PROGRESS.add(files=1)
        if item.size > 0:
            self.bytes.inc(item.size)
        produced = reported = text_bytes = 0
        for record in read_file(item, self.config):
            if isinstance(record, DeadLetter):
                self.dead.inc()
            else:
                self.records.inc()
                if isinstance(record, Rejected):
                    self._drop_counter(record.reason).inc()
                else:
                    text_bytes += len(record.text.encode("utf-8"))
            produced += 1
            if produced - reported == _PROGRESS_EVERY:  # not a lock per record
                LOCAL_PROGRESS.add(records=produced - reported, text_bytes=text_bytes)
                reported, text_bytes = produced, 0
            yield record
        LOCAL_PROGRESS.add(records=produced - reported, text_bytes=text_bytes)
        if self.with_counts:
            yield FileRead(item.source, writable(item.path), produced)

    def _drop_counter(self, reason: str):
        if reason not in self._dropped:
            self._dropped[reason] = Metrics.counter("Read", f"dropped_{reason}")
        return self._dropped[reason]


class ReadInputs(beam.PTransform):
    """[(source name, file pattern)] -> a PCollection of Document, Rejected and DeadLetter.

    A pattern may name a Common Crawl listing (`warc.paths.gz`, `wet.paths.gz`, local or
    remote); it expands to the files it names under `config.commoncrawl_base_url`.
    `only_files` (paths), when given, restricts reading to those of the matched files.
    `with_counts` adds a FileRead per file: how many records the reader produced from it.
    """

    def __init__(
        self,
        inputs: list[tuple[str, str]],
        config: ReaderConfig = DEFAULT_CONFIG,
        only_files: frozenset[str] | None = None,
        with_counts: bool = False,
    ):
        super().__init__()
        self.inputs = list(inputs)
        self.config = config
        self.only_files = only_files
        self.with_counts = with_counts

    def expand(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(self.inputs)
            | "Match" >> beam.ParDo(_MatchFiles(self.config, self.only_files))
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadRecords" >> beam.ParDo(_ReadFiles(self.config, self.with_counts))
        )


# Settings under `stages: {read: ...}`; the pipelines wire `ReadInputs` themselves.
READ = Stage(READ_STAGE, ReaderConfig.from_dict, runs_on=FILES)
