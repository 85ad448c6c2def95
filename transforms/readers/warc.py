"""WARC (HTML pages -> extracted text) and WET (Common Crawl's extracted text) files.

Both are parsed with FastWARC, streamed record by record from the decompressed stream, so
memory does not depend on file size. The compression is recognised from the first bytes
(gzip, zstd or none), not from the name.

WARC (`.warc`, `.warc.gz`, `.warc.zst`): only `response` records become documents.
  - HTTP status other than 200              -> Rejected `http_status`
  - content type not in `html_content_types` -> Rejected `not_html` (the HTTP Content-Type,
    else Common Crawl's WARC-Identified-Payload-Type; a response without an HTTP message
    counts as not HTML)
  - block larger than `max_record_bytes`     -> Rejected `too_large` (read past in pieces,
    not buffered, and searched for records a wrong Content-Length swallowed, see below)
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
  - a block whose WARC-Block-Digest does not match (flipped bytes)
  - a wrong Content-Length. Too large, the block swallows the start of the records after
    it: when the block does not match its digest, has none, runs past the end of the data
    or is too large to keep, it is searched for a WARC record that starts after a blank
    line and is framed like one (a complete header with WARC-Type and Content-Length,
    followed after its block by another record, whitespace or the end); the record with
    the wrong length is dead-lettered and reading starts over at the one found, so the
    swallowed records are read. Too small, the block is followed directly (no blank line)
    by bytes that are not a record: the record is dead-lettered, and those bytes up to the
    next record are taken for the rest of it. A block whose digest matches is trusted: a
    page may quote a WARC record, and junk after such a block is damage of its own.
    Missed: swallowed records that are themselves damaged (not framed like records)
    inside a block without a digest, and the bytes taken for the rest of a too-short
    block hide whatever they hold.
  - a record cut short by the end of the file or by corrupt compressed data
  - a record without a WARC-Type or with one no WARC version defines (a damaged header)
  - bytes between records that are not a record (FastWARC skips them silently, together
    with any record whose first line they damaged; they are found by checking that each
    record begins where the previous one ended), offset = the first such byte (or the
    previous record's start, when they follow its block directly, as above)
  - corrupt gzip data: the damaged record is dead-lettered and reading resumes at the next
    gzip member that holds a WARC record (Common Crawl compresses each record on its own,
    so one bad byte costs one record); offsets after such damage count only the bytes that
    could be decompressed
  - truncated gzip/zstd data, corrupt zstd data, and a FastWARC parse failure (the rest of
    the file)
  - an error while turning one record into a document, or a document that UTF-8 cannot
    encode (that record only)
Decompression never runs ahead of the parser by more than a chunk (`compression.py`), and
the bytes remembered to look back into blocks are bounded by `max_record_bytes`.
"""

from __future__ import annotations

import collections
import itertools
import re
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
from transforms.readers.reasons import READ_STAGE, TOO_LARGE
from transforms.readers.records import encoding_error, unread_note

WARC_SUFFIXES = (".warc", ".warc.gz", ".warc.zst")
WET_SUFFIXES = (".wet", ".wet.gz", ".warc.wet", ".warc.wet.gz", ".wet.zst")

# Raw bytes read from the file at a time.
RAW_CHUNK_BYTES = 256 << 10
# Recent decompressed bytes kept to find header ends and what lies between records, at
# least: FastWARC's read-ahead (64 KiB) plus a record's header and the gap after it. The
# reader keeps more, a whole block of up to `max_record_bytes`, to search it for records.
WINDOW_BYTES = 4 << 20
# FastWARC's own limit on a WARC header (its `max_header_len` default).
MAX_HEADER_BYTES = 32 << 10
# Bytes of a block too large to keep that are read (and searched for records) at a time.
SKIP_PIECE_BYTES = 256 << 10
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
    Bytes still remembered can be looked at ahead of FastWARC (`peek`) and handed out again
    (`rewind`), so reading can start over at a record found inside another one's block.
    """

    def __init__(self, chunks: Iterable[bytes | Damage], window_bytes: int = WINDOW_BYTES):
        self._chunks = iter(chunks)
        self._chunk = b""
        self._at = 0
        self._queue: collections.deque[tuple[bytes, int]] = collections.deque()  # after _chunk
        self.window_bytes = window_bytes
        self.pos = 0  # decompressed offset of the next byte handed out
        self.window = bytearray()
        self.window_start = 0  # decompressed offset of window[0]
        self.error: CorruptInput | None = None
        self.damage: Damage | None = None
        self.eof = False
        self._peeking = False

    @property
    def at_end(self) -> bool:
        """True when every byte of the readable data has been handed out."""
        return self.eof and self._at >= len(self._chunk) and not self._queue

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 20
        while self._at >= len(self._chunk):
            if self._queue:
                self._chunk, self._at = self._queue.popleft()
                continue
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
        if len(self.window) > self.window_bytes and not self._peeking:
            self.forget_before(self.pos - self.window_bytes)
        return out

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.pos  # FastWARC only reads forward; a real seek is never needed

    def close(self) -> None:
        pass

    def rewind(self, offset: int) -> None:
        """Hand out the bytes from `offset` (still remembered) again."""
        if offset >= self.pos:
            return
        lo = offset - self.window_start
        if lo < 0:
            raise ValueError(f"offset {offset} is no longer remembered")
        self._queue.appendleft((self._chunk, self._at))
        self._chunk, self._at = bytes(self.window[lo:]), 0
        del self.window[lo:]
        self.pos = offset

    def peek(self, offset: int, size: int) -> bytes:
        """Up to `size` bytes from `offset` (still remembered), reading ahead of FastWARC
        when needed without moving its read position; fewer at the end of the data."""
        lo = offset - self.window_start
        if lo < 0:
            return b""
        here = self.pos
        self._peeking = True  # what is before `here` must stay remembered
        try:
            while self.pos < offset + size and self.read(offset + size - self.pos):
                pass
        finally:
            self._peeking = False
        data = bytes(self.window[lo : lo + size])
        self.rewind(here)
        return data

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

    def junk_after(self, end: int) -> int | None:
        """Where bytes that are not a WARC record follow a block ending at `end` directly,
        with no blank line between (so its Content-Length is wrong); None otherwise."""
        data = self.peek(end, 256)
        text = data.lstrip()
        space = data[: len(data) - len(text)]
        if not text or text.startswith(b"WARC/") or b"\n\n" in space.replace(b"\r", b""):
            return None
        return end + len(space)

    def record_inside(self, lo: int, hi: int) -> int | None:
        """The offset of the first WARC record that starts in [lo, hi) after a blank line
        and is framed like one (a complete header with WARC-Type and Content-Length, and
        after its block another record, whitespace or the end of the data), or None.
        Only remembered bytes are searched."""
        at = lo
        while at < hi:
            at = max(at, self.window_start + 3)
            i = self.window.find(b"WARC/1.", at - self.window_start, hi - self.window_start)
            if i < 0:
                return None
            start = self.window_start + i
            before = self.window[i - 2 : i]
            if (before == b"\n\n" or self.window[i - 3 : i] == b"\n\r\n") and self._framed(start):
                return start
            at = start + 1
        return None

    def _framed(self, start: int) -> bool:
        header = self.peek(start, MAX_HEADER_BYTES)
        end = min(
            (i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := header.find(sep)) >= 0),
            default=-1,
        )
        if end < 0 or not re.match(rb"WARC/1\.[01]\r?\n", header):
            return False
        fields = {}
        for line in header[:end].splitlines()[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        length = fields.get(b"content-length", b"")
        if b"warc-type" not in fields or not length.isdigit():
            return False
        if int(length) > self.window_bytes:
            return True  # too far to look; such a block is too large to read anyway
        after = self.peek(start + end + int(length), 64).lstrip()
        return not after or after.startswith(b"WARC/")


def _compression(head: bytes) -> str | None:
    """'gzip', 'zstd' or None (plain) from a file's first bytes, whatever its name says.

    After bytes that are none of these (damage, garbage prepended), the earliest of a gzip
    member header, a zstd frame and a WARC record decides.
    """
    signs = ((GZIP_MAGIC + b"\x08", "gzip"), (ZSTD_MAGIC, "zstd"), (b"WARC/", None))
    found = [(at, kind) for sign, kind in signs if (at := head.find(sign)) >= 0]
    return min(found, key=lambda hit: hit[0])[1] if found else None


class _Raw:
    """The file's raw chunks, counting how many bytes were taken, and its compression."""

    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.taken = 0
        self.compression: str | None = None

    def chunks(self) -> Iterator[bytes]:
        for chunk in iter_file_chunks(self.handle, RAW_CHUNK_BYTES):
            self.taken += len(chunk)
            yield chunk


def _decompressed(raw: _Raw) -> Iterator[bytes | Damage]:
    """Decompressed chunks. Gzip damage yields a Damage marker and decoding resumes at the
    next gzip member that holds a WARC record; zstd damage raises CorruptInput."""
    chunks = raw.chunks()
    first = next(chunks, b"")
    chunks = itertools.chain([first], chunks)
    raw.compression = _compression(first)
    if raw.compression == "gzip":
        return inflate_gzip_members(chunks, b"WARC/")
    if raw.compression == "zstd":
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
    # The window must hold a whole block that is read, to look inside it for records its
    # Content-Length swallowed.
    window = max(WINDOW_BYTES, config.max_record_bytes + 2 * MAX_HEADER_BYTES + (1 << 20))
    raw = _Raw(handle)
    stream = _Stream(_decompressed(raw), window)

    def unread() -> str:
        """How much of the file is left unread when the stream ends at damage."""
        taken = getattr(stream.error, "raw_offset", None)
        taken = raw.taken if taken is None else taken
        return unread_note(stream.pos, taken, file.size, raw.compression is not None)

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
        if not separated and previous is not None and previous[2] != "verified":
            if previous[2] == "told":
                return None  # the previous record's dead letter already covers them
            # A block is followed by a blank line. Anything else right after it means the
            # previous record's Content-Length is wrong: the damage starts with that record.
            error += "; they follow the previous record's block directly (wrong Content-Length?)"
            return dead(error, previous[0], previous[1], snippet)
        return dead(error, number, at, snippet)

    number = 0  # WARC records seen, every type counted
    expected = 0  # where the next record should begin (the end of the last block), if known
    # (number, start, "verified" | "told" | None) of the last record of this stretch of
    # data: its digest matched, or its dead letter already names what follows its block.
    previous = None
    while True:  # one pass per stretch of intact data (gzip damage splits the file)
        damage_told = False  # the stream's damage is already in a record's dead letter
        restart = None  # where a record swallowed by a wrong Content-Length starts
        try:
            for record in ArchiveIterator(
                stream, parse_http=False, quirks_mode=True, stream_detect=False
            ):
                number += 1
                start = record.stream_pos
                if expected is not None and start > expected:
                    if letter := gap(start, "before this record", number):
                        yield letter
                previous = (number, start, None)
                header_end = stream.header_end(start)
                stream.forget_before(start)
                block_length = record.content_length  # parse_http changes content_length
                expected = None if header_end is None else header_end + block_length
                if header_end is None and stream.at_end:
                    # FastWARC hands out a record whose header the end of the data cut off.
                    damage_told = stream.error is not None
                    error = _cut_short(stream, "the WARC header is incomplete", unread())
                    yield dead(error, number, start)
                    continue
                record_type = record.record_type
                outcome = None
                digest = None  # True / False: the block matches / does not match its digest
                inside = None  # a record found inside this block
                if block_length > config.max_record_bytes:
                    inside = _skip_block(record, stream, header_end)
                    if record_type == wanted:
                        outcome = Rejected(_base(record, file, number), READ_STAGE, TOO_LARGE)
                else:
                    try:
                        if config.verify_digests:
                            digest = _block_digest(record)
                        if record_type == wanted:
                            outcome = _document(record, file, number, config, wet, digest)
                    except Exception as err:  # noqa: BLE001 - e.g. an extractor failure
                        outcome = dead(f"record could not be processed: {err!r}", number, start)
                    if record_type != wanted:
                        record.reader.consume()  # so that a cut-short block is noticed below
                if outcome is None and int(record_type) not in defined:
                    value = record.headers.get("WARC-Type")
                    outcome = dead(f"not a WARC record type: WARC-Type {value!r}", number, start)
                if inside is None and expected is not None and digest is not True:
                    inside = stream.record_inside(header_end, min(expected, stream.pos))
                if inside is not None:
                    # The block swallowed the start of the records after it (and may run
                    # to the end of the data because of it): read on where they start.
                    error = (
                        f"Content-Length {block_length} is wrong: the block runs into a WARC "
                        f"record at offset {inside}, where reading goes on"
                    )
                    snippet = stream.peek(inside, SNIPPET_CHARS)
                    yield dead(_also(error, outcome), number, start, snippet)
                    restart = inside
                    break
                cut = stream.at_end and expected is not None and expected > stream.pos
                if cut:
                    # The block runs past the end of the readable data (FastWARC shortens
                    # it to what there is, and its digest then fails, so this comes first).
                    got = stream.pos - header_end
                    damage_told = stream.error is not None
                    detail = f"{got} of {block_length} bytes"
                    outcome = dead(_cut_short(stream, detail, unread()), number, start)
                if not cut and expected is not None and digest is not True:
                    junk = stream.junk_after(expected)
                    if junk is not None:
                        error = (
                            f"Content-Length {block_length} is wrong: its block is followed "
                            f"directly by bytes that are not a WARC record, at offset {junk}"
                        )
                        snippet = stream.peek(junk, SNIPPET_CHARS)
                        outcome = dead(_also(error, outcome), number, start, snippet)
                        previous = (number, start, "told")
                if digest is True:
                    previous = (number, start, "verified")
                if outcome is None:
                    Metrics.counter("Read", f"warc_skipped_{record_type}").inc()
                else:
                    yield outcome
            if restart is None:
                while stream.read(RAW_CHUNK_BYTES):  # FastWARC stopped early: see what is left
                    pass
        except (GeneratorExit, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:  # noqa: BLE001 - FastWARC panics are BaseExceptions
            error = f"WARC parsing stopped: {err!r}; {unread()}"
            yield dead(error, number + 1, stream.pos)
            return
        if restart is not None:
            stream.rewind(restart)
            expected, previous = restart, None
            continue
        if stream.error is not None:
            if not damage_told:
                yield dead(_describe(stream, unread()), number + 1, stream.error.offset)
            if stream.resume():
                expected, previous = stream.pos, None
                continue
            return
        if expected is not None and stream.pos > expected:
            where = "after the last WARC record" if number else "in a file with no WARC record"
            if letter := gap(stream.pos, where, number + 1):
                yield letter
        return


def _skip_block(record, stream: _Stream, header_end: int | None) -> int | None:
    """Read past a block too large to keep, looking inside it for a WARC record (its
    Content-Length is then wrong); returns where the first one starts, or None."""
    if header_end is None:
        record.reader.consume()
        return None
    done = 0
    while piece := record.reader.read(SKIP_PIECE_BYTES):
        # Start a little before the piece: a record's first line may straddle two pieces.
        scan_from = header_end + max(done - 16, 0)
        done += len(piece)
        if (inside := stream.record_inside(scan_from, header_end + done)) is not None:
            return inside
    return None


def _also(error: str, outcome) -> str:
    """`error`, and the error of the dead letter `outcome` (if it is one)."""
    if isinstance(outcome, DeadLetter):
        return f"{error}; {outcome.error}"
    return error


def _cut_short(stream: _Stream, detail: str, unread: str) -> str:
    """The error of a record the end of the readable data cut off, with the damage, if any."""
    if stream.error is None:
        return f"{CUT_SHORT} ({detail})"
    return f"{CUT_SHORT} ({detail}): {_describe(stream, unread)}"


def _describe(stream: _Stream, unread: str) -> str:
    """The stream's damage, and where reading went on after it (or what was left unread)."""
    text = str(stream.error)
    if stream.damage is not None and stream.damage.resumed:
        skipped = stream.damage.skipped_raw_bytes
        return text + f"; resumed at the next intact record, {skipped} compressed bytes on"
    return f"{text}; {unread}"


def _base(record, file: InputFile, number: int) -> Document:
    """The Document fields a record's WARC headers give (no text yet)."""
    headers = record.headers
    return Document(
        id=headers.get("WARC-Record-ID") or file.record_id(number),
        text="",
        source=file.source,
        source_file=file.path,
        url=headers.get("WARC-Target-URI") or None,
        timestamp=headers.get("WARC-Date") or None,
    )


def _document(record, file: InputFile, number: int, config: ReaderConfig, wet: bool, digest):
    """One response/conversion record (its block no larger than `max_record_bytes`) ->
    Document, Rejected, or a DeadLetter when its block does not match its digest
    (`digest` False; a block cut short is found by the caller)."""
    headers = record.headers
    base = _base(record, file, number)

    def rejected(reason: str, content_type: str | None = None) -> Rejected:
        return Rejected(replace(base, content_type=content_type), READ_STAGE, reason)

    def damaged() -> DeadLetter:
        error = "WARC-Block-Digest mismatch: the record is damaged"
        return DeadLetter(file.source, file.path, error, number, record.stream_pos)

    digest_ok = digest is not False
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
        return _checked(replace(base, text=text, content_type=content_type), file, number, record)
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
    return _checked(replace(base, text=text, content_type=content_type), file, number, record)


def _checked(doc: Document, file: InputFile, number: int, record) -> Document | DeadLetter:
    """`doc`, or a DeadLetter if UTF-8 cannot encode one of its fields."""
    if error := encoding_error(doc):
        return DeadLetter(file.source, file.path, error, number, record.stream_pos)
    return doc


def _block_digest(record) -> bool | None:
    """Whether the block matches its WARC-Block-Digest; None when there is none or its
    algorithm is unknown. Reads the block without consuming it."""
    algorithm, _, value = (record.headers.get("WARC-Block-Digest") or "").strip().partition(":")
    if algorithm.lower() not in _DIGEST_ALGORITHMS or not value:
        return None
    # FastWARC accepts base32 and hex digests only in upper case; both are case-insensitive.
    record.headers["WARC-Block-Digest"] = f"{algorithm}:{value.strip().upper()}"
    return record.verify_block_digest(consume=False)


def _mime(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(";", 1)[0].split(",", 1)[0].strip().lower() or None
