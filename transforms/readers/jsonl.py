"""JSON lines in every common form: .jsonl/.json/.ndjson, plain, gzip or zstd.

Understands the fields of C4 (`text`, `url`, `timestamp` or `date`), CCNet as Dolma
stores it (`id`, `source`, `metadata.url`, `metadata.date_download`, `metadata.language`)
and the Pile (`text` as a string or lm_dataformat's list of paragraphs,
`meta.pile_set_name`). A line without `text` in The Stack's code layout (`content` plus a
repository path or language, see `code.py`) is read as source code and may be Rejected by
the code checks. Every other line becomes a Document or a DeadLetter; a damaged stream
dead-letters the rest of the file from the line where the damage starts, after the lines
before it were read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import BinaryIO

from schemas.document import DeadLetter, Document, Rejected
from transforms.readers.code import code_document, is_code_record
from transforms.readers.compression import (
    CorruptInput,
    compression_of,
    iter_file_chunks,
    read_chunks,
)
from transforms.readers.config import DEFAULT_CONFIG, ReaderConfig
from transforms.readers.files import InputFile

SUFFIXES = tuple(
    base + comp for base in (".jsonl", ".json", ".ndjson") for comp in ("", ".gz", ".zst", ".zstd")
)

# A line longer than this is treated as damage rather than buffered without bound.
MAX_LINE_BYTES = 256 << 20
SNIPPET_CHARS = 200


def read_jsonl(
    file: InputFile, handle: BinaryIO, *, config: ReaderConfig = DEFAULT_CONFIG
) -> Iterator[Document | Rejected | DeadLetter]:
    """Documents (and dead letters, rejected code) of one JSON lines file, from its raw handle."""
    line_no = 0
    offset = 0  # decompressed offset of the first byte of `pending`
    pending = b""
    try:
        for chunk in read_chunks(iter_file_chunks(handle), compression_of(file.path)):
            pending += chunk
            lines = pending.split(b"\n")
            pending = lines.pop()
            if len(pending) > MAX_LINE_BYTES:
                raise CorruptInput(f"line longer than {MAX_LINE_BYTES} bytes", offset)
            for line in lines:
                line_no += 1
                if record := parse_line(line, file, line_no, offset, config):
                    yield record
                offset += len(line) + 1
    except CorruptInput as err:
        yield DeadLetter(file.source, file.path, str(err), line_no + 1, offset, _snippet(pending))
        return
    if pending and (record := parse_line(pending, file, line_no + 1, offset, config)):
        yield record


def parse_line(
    line: bytes, file: InputFile, line_no: int, offset: int, config: ReaderConfig = DEFAULT_CONFIG
) -> Document | Rejected | DeadLetter | None:
    """One JSON line -> Document (or Rejected code), DeadLetter saying what is wrong with it,
    or None if blank."""

    def dead(error: str) -> DeadLetter:
        return DeadLetter(file.source, file.path, error, line_no, offset, _snippet(line))

    if line_no == 1 and line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except UnicodeDecodeError as err:
        return dead(f"invalid UTF-8 at byte {err.start} of the line: {err.reason}")
    except ValueError as err:
        return dead(f"malformed JSON: {err}")
    if not isinstance(record, dict):
        return dead(f"a JSON {type(record).__name__}, not an object")
    text = record.get("text")
    if text is None and is_code_record(record):
        return code_document(record, file, line_no, config)
    if text is None:
        return dead(f"no 'text' field (fields: {', '.join(sorted(record)[:10])})")
    if isinstance(text, list) and all(isinstance(part, str) for part in text):
        text = "\n\n".join(text)  # lm_dataformat stores paragraphs as a list and joins them so
    if not isinstance(text, str):
        return dead(f"'text' is a {type(text).__name__}, not a string")
    return record_to_document(record, text, file, line_no)


def record_to_document(record: dict, text: str, file: InputFile, line_no: int) -> Document:
    """Map C4, CCNet/Dolma and Pile fields onto a Document; the id falls back to file + line.

    Fields are looked up at the top level, then in Dolma's `metadata` and the Pile's `meta`.
    """
    record_id = record.get("id")
    if isinstance(record_id, bool) or not isinstance(record_id, str | int):
        record_id = file.record_id(line_no)
    nested = [m for m in (record.get("metadata"), record.get("meta")) if isinstance(m, dict)]

    def field(*names):
        for where in (record, *nested):
            for name in names:
                if where.get(name) not in (None, ""):
                    return str(where[name])
        return None

    return Document(
        id=str(record_id),
        text=text,
        source=file.source,
        source_file=file.path,
        url=field("url"),
        timestamp=field("timestamp", "date", "date_download", "created"),
        sub_source=field("pile_set_name") or _string_or_none(record.get("source")),
        lang=field("language", "lang"),
    )


def _string_or_none(value) -> str | None:
    return None if value is None else str(value)


def _snippet(raw: bytes) -> str:
    return raw[: SNIPPET_CHARS * 4].decode("utf-8", errors="replace")[:SNIPPET_CHARS]
