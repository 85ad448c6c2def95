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

from collections.abc import Iterator
from dataclasses import replace
from typing import BinaryIO

from apache_beam.metrics import Metrics

from schemas.document import DeadLetter, Document, Rejected
from transforms.readers import html as html_text
from transforms.readers import reasons
from transforms.readers.config import DEFAULT_CONFIG, ReaderConfig
from transforms.readers.files import InputFile
from transforms.readers.reasons import READ_STAGE, TOO_LARGE
from transforms.readers.records import encoding_error, unread_note
from transforms.readers.warc_stream import (
    MAX_HEADER_BYTES,
    RAW_CHUNK_BYTES,
    WINDOW_BYTES,
    RawFile,
    WarcStream,
    decompressed,
    skip_block,
)

WARC_SUFFIXES = (".warc", ".warc.gz", ".warc.zst")
WET_SUFFIXES = (".wet", ".wet.gz", ".warc.wet", ".warc.wet.gz", ".wet.zst")

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
    raw = RawFile(handle)
    stream = WarcStream(decompressed(raw), window)

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
                    inside = skip_block(record, stream, header_end)
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


def _also(error: str, outcome) -> str:
    """`error`, and the error of the dead letter `outcome` (if it is one)."""
    if isinstance(outcome, DeadLetter):
        return f"{error}; {outcome.error}"
    return error


def _cut_short(stream: WarcStream, detail: str, unread: str) -> str:
    """The error of a record the end of the readable data cut off, with the damage, if any."""
    if stream.error is None:
        return f"{CUT_SHORT} ({detail})"
    return f"{CUT_SHORT} ({detail}): {_describe(stream, unread)}"


def _describe(stream: WarcStream, unread: str) -> str:
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
