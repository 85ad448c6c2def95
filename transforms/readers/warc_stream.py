"""The decompressed bytes of a WARC/WET file as FastWARC reads them, and the framing checks
the WARC reader (`warc.py`) uses to find damage: where a record's header ends, bytes between
records that are not a record, and records that a wrong Content-Length swallowed.

The compression is recognised from the first bytes (gzip, zstd or none), not from the name.
Decompression never runs ahead of the parser by more than a chunk (`compression.py`), and
the bytes remembered to look back into blocks are bounded by the window the reader sets
(at least a whole block of up to `max_record_bytes`).
"""

from __future__ import annotations

import collections
import itertools
import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from transforms.readers.compression import (
    GZIP_MAGIC,
    ZSTD_MAGIC,
    CorruptInput,
    Damage,
    inflate_gzip_members,
    iter_file_chunks,
    read_chunks,
)

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


class WarcStream:
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


class RawFile:
    """The file's raw chunks, counting how many bytes were taken, and its compression."""

    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.taken = 0
        self.compression: str | None = None

    def chunks(self) -> Iterator[bytes]:
        for chunk in iter_file_chunks(self.handle, RAW_CHUNK_BYTES):
            self.taken += len(chunk)
            yield chunk


def decompressed(raw: RawFile) -> Iterator[bytes | Damage]:
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


def skip_block(record, stream: WarcStream, header_end: int | None) -> int | None:
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
