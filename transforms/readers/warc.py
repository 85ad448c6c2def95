"""WARC (HTML pages -> extracted text) and WET (Common Crawl's extracted text) files.

Both are parsed with FastWARC, streamed record by record from the decompressed stream, so
memory does not depend on file size. The compression is recognised from the first bytes
(gzip, zstd or none), not from the name.

WARC (`.warc`, `.warc.gz`, `.warc.zst`): only `response` records become documents.
  - HTTP status other than 200              -> Rejected `http_status`
  - content type not in `html_content_types` -> Rejected `not_html` (the HTTP Content-Type,
    else Common Crawl's WARC-Identified-Payload-Type; a response without an HTTP message
    counts as not HTML)
  - block larger than `max_record_bytes`     -> Rejected `too_large` (skipped, not buffered)
  - Content-Encoding or charset undecodable  -> Rejected `decode_error`: the record itself is
    intact (framing and digest are fine), only its payload is unusable, so it is counted
    as a drop with a reason rather than as unreadable input
  - no text after extraction                 -> Rejected `empty_extraction`
  The charset is the BOM, else UTF-8 when the body is valid UTF-8, else the declared HTTP
  charset, a <meta> tag or detection (`html.charset_candidates`). Text comes from
  Resiliparse, or Trafilatura when `extractor: trafilatura`.
WET (`.wet`, `.wet.gz`, `.warc.wet.gz`): `conversion` records become documents (UTF-8
  text; `decode_error` / `empty_extraction` / `too_large` as above).

Document fields: id = WARC-Record-ID (file + record number if missing), url =
WARC-Target-URI, timestamp = WARC-Date as written in the file (not validated: ClueWeb09
writes dates such as `2008-10-294T05:21:46-0700`), content_type = the HTTP content type
(WET: the record's Content-Type).

Other record types (warcinfo, request, metadata, revisit, ...) are not documents: they are
skipped and only counted in Beam metrics (`Read/warc_skipped_<type>`).

Damage becomes a DeadLetter whose `line` is the 1-based number of the WARC record (all
types counted) and whose `offset` is the record's start in the *decompressed* stream
(for Common Crawl's one-gzip-member-per-record files this is not the compressed offset the
CDX index gives; `zcat FILE | tail -c +$((offset+1))` shows the record):
  - a block whose WARC-Block-Digest does not match (flipped bytes, wrong Content-Length)
  - a record cut short by the end of the file or by corrupt compressed data
  - a record without a WARC-Type or with one no WARC version defines (a damaged header)
  - bytes between records that are not a record (FastWARC skips them silently, together
    with any record whose first line they damaged; they are found by checking that each
    record begins where the previous one ended), offset = the first such byte, or the
    previous record's start when they follow its block directly (its Content-Length is
    then wrong: it swallowed the start of what follows, or left part of its block behind)
  - corrupt gzip data: the damaged record is dead-lettered and reading resumes at the next
    gzip member that holds a WARC record (Common Crawl compresses each record on its own,
    so one bad byte costs one record); offsets after such damage count only the bytes that
    could be decompressed
  - truncated gzip/zstd data, corrupt zstd data, and a FastWARC parse failure (the rest of
    the file)
  - an error while turning one record into a document (that record only)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import BinaryIO

from apache_beam.metrics import Metrics

from schemas.document import DeadLetter, Document, Rejected
from transforms.readers import html as html_text
from transforms.readers import reasons
from transforms.readers.compression import (
    GZIP_MAGIC,
    ZSTD_MAGIC,
    CorruptInput,
    Damage,
    inflate_gzip_members,
    iter_file_chunks,
    read_chunks,
)
from transforms.readers.config import DEFAULT_CONFIG, ReaderConfig
from transforms.readers.files import InputFile

WARC_SUFFIXES = (".warc", ".warc.gz", ".warc.zst")
WET_SUFFIXES = (".wet", ".wet.gz", ".warc.wet", ".warc.wet.gz", ".wet.zst")

# Raw bytes read from the file at a time.
RAW_CHUNK_BYTES = 256 << 10
# Recent decompressed bytes kept to find header ends and what lies between records; it only
# needs to cover FastWARC's read-ahead (64 KiB) plus a record's header and the gap after it.
WINDOW_BYTES = 4 << 20
# FastWARC's own limit on a WARC header (its `max_header_len` default).
MAX_HEADER_BYTES = 32 << 10
SNIPPET_CHARS = 200
CUT_SHORT = "record cut short"
_DIGEST_ALGORITHMS = ("sha1", "sha256", "sha512", "md5")


def read_warc(
    file: InputFile, handle: BinaryIO, *, config: ReaderConfig = DEFAULT_CONFIG
) -> Iterator[Document | Rejected | DeadLetter]:
    """Documents (extracted HTML pages), Rejected and DeadLetter records of a WARC file."""
    return _read(file, handle, config, wet=False)


def read_wet(
    file: InputFile, handle: BinaryIO, *, config: ReaderConfig = DEFAULT_CONFIG
) -> Iterator[Document | Rejected | DeadLetter]:
    """Documents (Common Crawl's extracted text), Rejected and DeadLetter records of a WET."""
    return _read(file, handle, config, wet=True)


class _Stream:
    """Decompressed bytes as a file object for FastWARC, remembering the most recent bytes.

    Never raises: FastWARC turns a Python exception in `read` into a Rust panic, so damage
    ends the stream (`eof`) and is kept in `error` (and `damage`) for the reader to report.
    """

    def __init__(self, chunks: Iterable[bytes | Damage]):
        self._chunks = iter(chunks)
        self._chunk = b""
        self._at = 0
        self.pos = 0  # decompressed offset of the next byte handed out
        self.window = bytearray()
        self.window_start = 0  # decompressed offset of window[0]
        self.error: CorruptInput | None = None
        self.damage: Damage | None = None
        self.eof = False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 20
        while self._at >= len(self._chunk):
            if self.eof:
                return b""
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self.eof = True
                return b""
            except CorruptInput as err:
                self.error, self.eof = err, True
                return b""
            except Exception as err:  # noqa: BLE001 - I/O errors end the stream, reported later
                self.error, self.eof = CorruptInput(f"read failed: {err!r}", self.pos), True
                return b""
            if isinstance(chunk, Damage):
                self.error, self.damage, self.eof = chunk.error, chunk, True
                return b""
            self._chunk, self._at = chunk, 0
        out = self._chunk[self._at : self._at + size]
        self._at += len(out)
        self.pos += len(out)
        self.window += out
        if len(self.window) > WINDOW_BYTES:
            self.forget_before(self.pos - WINDOW_BYTES)
        return out

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.pos  # FastWARC only reads forward; a real seek is never needed

    def close(self) -> None:
        pass

    def resume(self) -> bool:
        """After damage that decoding recovered from: go on with the bytes after it."""
        if self.damage is None or not self.damage.resumed:
            return False
        self.error, self.damage, self.eof = None, None, False
        self.forget_before(self.pos)
        return True

    def forget_before(self, offset: int) -> None:
        """Drop remembered bytes before `offset`."""
        drop = min(offset - self.window_start, len(self.window))
        if drop > 0:
            del self.window[:drop]
            self.window_start += drop

    def header_end(self, start: int) -> int | None:
        """Offset just after the blank line ending the WARC header that begins at `start`
        (None if it is not among the remembered bytes)."""
        lo = start - self.window_start
        if lo < 0:
            return None
        hi = min(len(self.window), lo + MAX_HEADER_BYTES)
        ends = [
            i + len(sep)
            for sep in (b"\r\n\r\n", b"\n\n")
            if (i := self.window.find(sep, lo, hi)) >= 0
        ]
        return self.window_start + min(ends) if ends else None

    def junk(self, start: int, end: int) -> tuple[int, bytes, bool] | None:
        """(offset, bytes, whether a blank line comes first) of what is not whitespace in
        [start, end), or None if that is only whitespace. Bytes no longer remembered count
        as junk at `start`."""
        lo = start - self.window_start
        if lo < 0:
            return start, b"", False
        raw = bytes(self.window[lo : end - self.window_start])
        text = raw.lstrip()
        if not text.rstrip():
            return None
        space = raw[: len(raw) - len(text)]
        return start + len(space), text, b"\n\n" in space.replace(b"\r", b"")


def _compression(head: bytes) -> str | None:
    """'gzip', 'zstd' or None (plain) from a file's first bytes, whatever its name says.

    After bytes that are none of these (damage, garbage prepended), the earliest of a gzip
    member header, a zstd frame and a WARC record decides.
    """
    signs = ((GZIP_MAGIC + b"\x08", "gzip"), (ZSTD_MAGIC, "zstd"), (b"WARC/", None))
    found = [(at, kind) for sign, kind in signs if (at := head.find(sign)) >= 0]
    return min(found, key=lambda hit: hit[0])[1] if found else None


def _decompressed(handle: BinaryIO) -> Iterator[bytes | Damage]:
    """Decompressed chunks. Gzip damage yields a Damage marker and decoding resumes at the
    next gzip member that holds a WARC record; zstd damage raises CorruptInput."""
    raw = iter_file_chunks(handle, RAW_CHUNK_BYTES)
    first = next(raw, b"")
    chunks = itertools.chain([first], raw)
    compression = _compression(first)
    if compression == "gzip":
        return inflate_gzip_members(chunks, b"WARC/")
    if compression == "zstd":
        return read_chunks(chunks, "zstd")
    return chunks


def _read(file: InputFile, handle: BinaryIO, config: ReaderConfig, wet: bool):
    from fastwarc import ArchiveIterator, WarcRecordType  # lazy: native module

    wanted = WarcRecordType.conversion if wet else WarcRecordType.response
    # FastWARC gives a missing WARC-Type as no_type and an unknown one as `unknown` or as a
    # value that is none of these.
    defined = {
        int(t)
        for t in (
            WarcRecordType.warcinfo,
            WarcRecordType.response,
            WarcRecordType.resource,
            WarcRecordType.request,
            WarcRecordType.metadata,
            WarcRecordType.revisit,
            WarcRecordType.conversion,
            WarcRecordType.continuation,
        )
    }
    stream = _Stream(_decompressed(handle))

    def dead(error: str, number: int, offset: int | None, snippet: bytes = b"") -> DeadLetter:
        text = snippet[: SNIPPET_CHARS * 4].decode("utf-8", "replace")[:SNIPPET_CHARS]
        return DeadLetter(file.source, file.path, error, number, offset, text)

    def gap(end: int, what: str, number: int) -> DeadLetter | None:
        """A dead letter for the bytes from `expected` to `end` that are not whitespace."""
        junk = stream.junk(expected, end)
        if junk is None:
            return None
        at, snippet, separated = junk
        error = f"{end - at} bytes {what} are not a WARC record"
        if not separated and previous is not None:
            # A block is followed by a blank line. Anything else right after it means the
            # previous record's Content-Length is wrong: the damage starts with that record.
            error += "; they follow the previous record's block directly (wrong Content-Length?)"
            return dead(error, *previous, snippet)
        return dead(error, number, at, snippet)

    number = 0  # WARC records seen, every type counted
    expected = 0  # where the next record should begin (the end of the last block), if known
    previous = None  # (number, start) of the last record of this stretch of data
    while True:  # one pass per stretch of intact data (gzip damage splits the file)
        damage_told = False  # the stream's damage is already in a record's dead letter
        try:
            for record in ArchiveIterator(
                stream, parse_http=False, quirks_mode=True, stream_detect=False
            ):
                number += 1
                start = record.stream_pos
                if expected is not None and start > expected:
                    if letter := gap(start, "before this record", number):
                        yield letter
                previous = (number, start)
                header_end = stream.header_end(start)
                stream.forget_before(start)
                block_length = record.content_length  # parse_http changes content_length
                expected = None if header_end is None else header_end + block_length
                if header_end is None and stream.eof:
                    # FastWARC hands out a record whose header the end of the data cut off.
                    damage_told = stream.error is not None
                    yield dead(_cut_short(stream, "the WARC header is incomplete"), number, start)
                    continue
                record_type = record.record_type
                outcome = None
                if record_type == wanted:
                    try:
                        outcome = _document(record, file, number, config, wet)
                    except Exception as err:  # noqa: BLE001 - e.g. an extractor failure
                        outcome = dead(f"record could not be processed: {err!r}", number, start)
                else:
                    record.reader.consume()  # so that a cut-short block is noticed below
                    if int(record_type) not in defined:
                        value = record.headers.get("WARC-Type")
                        outcome = dead(
                            f"not a WARC record type: WARC-Type {value!r}", number, start
                        )
                if stream.eof and expected is not None and expected > stream.pos:
                    # The block runs past the end of the readable data (FastWARC shortens
                    # it to what there is, and its digest then fails, so this comes first).
                    got = stream.pos - header_end
                    damage_told = stream.error is not None
                    detail = f"{got} of {block_length} bytes"
                    outcome = dead(_cut_short(stream, detail), number, start)
                if outcome is None:
                    Metrics.counter("Read", f"warc_skipped_{record_type}").inc()
                else:
                    yield outcome
            while stream.read(RAW_CHUNK_BYTES):  # FastWARC stopped early: see what is left
                pass
        except (GeneratorExit, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:  # noqa: BLE001 - FastWARC panics are BaseExceptions
            yield dead(f"WARC parsing stopped: {err!r}", number + 1, stream.pos)
            return
        if stream.error is not None:
            if not damage_told:
                yield dead(_describe(stream), number + 1, stream.error.offset)
            if stream.resume():
                expected, previous = stream.pos, None
                continue
            return
        if expected is not None and stream.pos > expected:
            where = "after the last WARC record" if number else "in a file with no WARC record"
            if letter := gap(stream.pos, where, number + 1):
                yield letter
        return


def _cut_short(stream: _Stream, detail: str) -> str:
    """The error of a record the end of the readable data cut off, with the damage, if any."""
    if stream.error is None:
        return f"{CUT_SHORT} ({detail})"
    return f"{CUT_SHORT} ({detail}): {_describe(stream)}"


def _describe(stream: _Stream) -> str:
    """The stream's damage, and where reading went on after it."""
    text = str(stream.error)
    if stream.damage is not None and stream.damage.resumed:
        skipped = stream.damage.skipped_raw_bytes
        text += f"; resumed at the next intact record, {skipped} compressed bytes on"
    return text


def _document(record, file: InputFile, number: int, config: ReaderConfig, wet: bool):
    """One response/conversion record -> Document, Rejected, or a DeadLetter when its block
    does not match its digest (a block cut short is found by the caller)."""
    headers = record.headers
    block_length = record.content_length
    base = Document(
        id=headers.get("WARC-Record-ID") or file.record_id(number),
        text="",
        source=file.source,
        source_file=file.path,
        url=headers.get("WARC-Target-URI") or None,
        timestamp=headers.get("WARC-Date") or None,
    )

    def rejected(reason: str, content_type: str | None = None) -> Rejected:
        return Rejected(replace(base, content_type=content_type), reasons.READ_STAGE, reason)

    def damaged() -> DeadLetter:
        error = "WARC-Block-Digest mismatch: the record is damaged"
        return DeadLetter(file.source, file.path, error, number, record.stream_pos)

    if block_length > config.max_record_bytes:
        record.reader.consume()
        return rejected(reasons.TOO_LARGE)
    digest_ok = not config.verify_digests or _block_digest_ok(record)
    if wet:
        body = record.reader.read()
        if not digest_ok:
            return damaged()
        content_type = _mime(headers.get("Content-Type")) or "text/plain"
        try:
            text = body.decode("utf-8").strip()
        except UnicodeDecodeError:
            return rejected(reasons.DECODE_ERROR, content_type)
        if not text:
            return rejected(reasons.EMPTY_EXTRACTION, content_type)
        return replace(base, text=text, content_type=content_type)
    if record.is_http:
        record.parse_http(quirks_mode=True)
    body = record.reader.read()
    if not digest_ok:
        return damaged()
    if not record.is_http:
        return rejected(reasons.NOT_HTML, _mime(headers.get("Content-Type")))
    http = record.http_headers
    content_type = _mime(record.http_content_type) or _mime(
        headers.get("WARC-Identified-Payload-Type")
    )
    if http.status_code != 200:
        return rejected(reasons.HTTP_STATUS, content_type)
    if content_type not in config.html_content_types:
        return rejected(reasons.NOT_HTML, content_type)
    try:
        body = html_text.undo_http_encodings(body, http, config.max_record_bytes)
        page = html_text.decode_html(body, record.http_charset, config.max_replacement_ratio)
    except html_text.DecodeFailed:
        return rejected(reasons.DECODE_ERROR, content_type)
    text = html_text.extract_text(page, config, base.url)
    if not text:
        return rejected(reasons.EMPTY_EXTRACTION, content_type)
    return replace(base, text=text, content_type=content_type)


def _block_digest_ok(record) -> bool:
    """Whether the block matches its WARC-Block-Digest (True when there is none, or its
    algorithm is unknown). Reads the block without consuming it."""
    algorithm, _, value = (record.headers.get("WARC-Block-Digest") or "").strip().partition(":")
    if algorithm.lower() not in _DIGEST_ALGORITHMS or not value:
        return True
    # FastWARC accepts base32 and hex digests only in upper case; both are case-insensitive.
    record.headers["WARC-Block-Digest"] = f"{algorithm}:{value.strip().upper()}"
    return record.verify_block_digest(consume=False)


def _mime(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(";", 1)[0].split(",", 1)[0].strip().lower() or None
