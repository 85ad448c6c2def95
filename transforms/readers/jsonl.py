"""JSON lines in every common form: .jsonl/.json/.ndjson, plain, gzip or zstd.

Understands the fields of C4 (`text`, `url`, `timestamp` or `date`), CCNet as Dolma
stores it (`id`, `source`, `metadata.url`, `metadata.date_download`, `metadata.language`)
and the Pile (`text` as a string or lm_dataformat's list of paragraphs,
`meta.pile_set_name`). A line without `text` in The Stack's code layout (`content` plus a
repository path or language, see `code.py`) is read as source code and may be Rejected by
the code checks.

One bad line costs only itself: a line that cannot be parsed or mapped (malformed or
too deeply nested JSON, invalid UTF-8, a lone surrogate escape, any error) becomes a
DeadLetter with its line number, offset and a snippet, and reading goes on. A line longer
than `max_record_bytes` is never buffered: it is skipped to the next newline and becomes
`Rejected(doc, "read", "too_large")` with the derived id `file.record_id(line)` and empty
text. Only a stream that cannot be read on (damaged compression, an I/O error) ends the
file, after the lines before it were read: its DeadLetter starts at the first line not
read and says how many bytes were left unread.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import BinaryIO

from schemas.document import DeadLetter, Document, Rejected
from transforms.readers import reasons
from transforms.readers.code import code_document, is_code_record
from transforms.readers.compression import (
    CorruptInput,
    Taken,
    compression_of,
    iter_file_chunks,
    read_chunks,
)
from transforms.readers.config import DEFAULT_CONFIG, ReaderConfig
from transforms.readers.files import InputFile
from transforms.readers.records import guarded, unread_note

SUFFIXES = tuple(
    base + comp for base in (".jsonl", ".json", ".ndjson") for comp in ("", ".gz", ".zst", ".zstd")
)

SNIPPET_CHARS = 200
# Decompressed bytes of lines a file may give before its compression ratio is judged, and
# the decompressed chunk size, so that the ratio is judged that often: a bomb of short
# lines gets no further than a few thousand records.
RATIO_FLOOR_BYTES = CHUNK_BYTES = 256 << 10


def read_jsonl(
    file: InputFile, handle: BinaryIO, *, config: ReaderConfig = DEFAULT_CONFIG
) -> Iterator[Document | Rejected | DeadLetter]:
    """Documents (and dead letters, rejected records) of one JSON lines file, from its raw
    handle. Holds at most one line of up to `config.max_record_bytes` plus one chunk."""
    limit = config.max_record_bytes
    compression = compression_of(file.path)
    raw_taken = 0

    def raw_chunks():
        nonlocal raw_taken
        for chunk in iter_file_chunks(handle):
            raw_taken += len(chunk)
            yield chunk

    taken = Taken()
    chunks = read_chunks(raw_chunks(), compression, CHUNK_BYTES, taken)
    max_ratio = config.max_decompression_ratio if compression is not None else None
    skipped = 0  # bytes of lines too large to read: they become no record
    line_no = 0
    offset = 0  # decompressed offset of the current line's first byte
    pieces: list[bytes] = []  # the current line so far; dropped once it is too long
    length = 0  # bytes of the current line so far
    head = b""  # the first bytes of a line too long to keep, for a snippet

    def extend(piece: bytes) -> None:
        """Add `piece` to the current line, or only count it once the line is too long."""
        nonlocal pieces, length, head
        if length + len(piece) > limit:
            if length <= limit:  # just became too long: stop keeping it
                head = (b"".join(pieces) + piece[: SNIPPET_CHARS * 4])[: SNIPPET_CHARS * 4]
                pieces = []
        elif piece:
            pieces.append(piece)
        length += len(piece)

    while True:
        try:
            chunk = next(chunks, None)
        except Exception as err:  # noqa: BLE001 - damage or I/O: the stream cannot go on
            taken = err.raw_offset if isinstance(err, CorruptInput) else raw_taken
            if taken is None:
                taken = raw_taken
            note = unread_note(offset + length, taken, file.size, compression is not None)
            what = str(err) if isinstance(err, CorruptInput) else f"read failed: {err!r}"
            snippet = _snippet(b"".join(pieces)[: SNIPPET_CHARS * 4] if pieces else head)
            yield DeadLetter(
                file.source, file.path, f"{what}; {note}", line_no + 1, offset, snippet
            )
            return
        if chunk is None:
            break
        first = chunk.find(b"\n")
        if first < 0:
            extend(chunk)
            continue
        extend(chunk[:first])  # the end of the line begun in earlier chunks
        line_no += 1
        if record := _line_record(pieces, length, file, line_no, offset, config):
            yield record
        skipped += length if length > limit else 0
        offset += length + 1
        last = chunk.rfind(b"\n")
        if last > first:  # whole lines: no piece to keep across chunks
            for line in chunk[first + 1 : last].split(b"\n"):
                line_no += 1
                if record := _line_record((line,), len(line), file, line_no, offset, config):
                    yield record
                skipped += len(line) if len(line) > limit else 0
                offset += len(line) + 1
        pieces, length, head = [], 0, b""
        if max_ratio is not None and (error := _bomb(offset - skipped, taken.bytes, max_ratio)):
            note = unread_note(offset, taken.bytes, file.size, True)
            snippet = _snippet(chunk[last + 1 :])
            yield DeadLetter(
                file.source, file.path, f"{error}; {note}", line_no + 1, offset, snippet
            )
            return
        extend(chunk[last + 1 :])
    if length:
        if record := _line_record(pieces, length, file, line_no + 1, offset, config):
            yield record


def _bomb(record_bytes: int, taken: int, max_ratio: float) -> str | None:
    """Why a stream that gave `record_bytes` of lines short enough to read from `taken`
    compressed bytes is a decompression bomb, or None. Bounded chunks are not enough: every
    line becomes a record downstream, and 2 GiB of one short line is 67 million of them.
    Lines too large to read are left out (they cost nothing), so one huge line in a small
    gzip is only `too_large`. Judged after RATIO_FLOOR_BYTES."""
    if record_bytes > RATIO_FLOOR_BYTES and record_bytes > max_ratio * taken:
        return (
            f"{record_bytes} bytes of lines from {taken} compressed bytes, more than "
            f"{max_ratio:g}x (stages.read.max_decompression_ratio): a decompression bomb"
        )
    return None


def _line_record(pieces, length, file, line_no, offset, config):
    """The record of one complete line held as `pieces` (empty when it was too long)."""
    if length > config.max_record_bytes:
        doc = Document(
            id=file.record_id(line_no), text="", source=file.source, source_file=file.path
        )
        return Rejected(doc, reasons.READ_STAGE, reasons.TOO_LARGE)
    line = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    return parse_line(line, file, line_no, offset, config)


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
    return guarded(lambda: _parse(line, file, line_no, config), dead, "record")


def _parse(
    line: bytes, file: InputFile, line_no: int, config: ReaderConfig
) -> Document | Rejected | str:
    """A non-blank line -> Document, Rejected code, or what is wrong with it (a str)."""
    try:
        record = json.loads(line)
    except UnicodeDecodeError as err:
        return f"invalid UTF-8 at byte {err.start} of the line: {err.reason}"
    except ValueError as err:
        return f"malformed JSON: {err}"
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    text = record.get("text")
    if text is None and is_code_record(record):
        return code_document(record, file, line_no, config)
    if text is None:
        return f"no 'text' field (fields: {', '.join(sorted(record)[:10])})"
    if isinstance(text, list) and all(isinstance(part, str) for part in text):
        text = "\n\n".join(text)  # lm_dataformat stores paragraphs as a list and joins them so
    if not isinstance(text, str):
        return f"'text' is a {type(text).__name__}, not a string"
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
