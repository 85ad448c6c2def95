"""Streaming decompression that reports damage instead of hiding it, in bounded memory.

Python's gzip module and zstandard's stream reader either raise late or end quietly on a
truncated stream. Here every codec is a generator of decompressed chunks that raises
`CorruptInput` with the decompressed offset where the damage was found (and how many
compressed bytes had been taken before it), so readers can dead-letter it and keep what
came before.

No chunk is longer than `max_chunk` bytes, and no more than that is decompressed ahead of
what the caller has taken, whatever the compression ratio: a gzip bomb of 2 GiB of
repeated bytes costs no more memory than a normal file. zlib is asked for at most
`max_chunk` bytes per call (keeping the input it did not take); zstandard's decompressobj
has no such limit, so its input is cut at block boundaries (`_zstd_pieces`), a few blocks
per call, each of which decodes to at most 128 KiB (RFC 8878, Block_Maximum_Size).
A `Taken` passed in follows the compressed bytes taken, for readers that judge the
compression ratio (jsonl.py: a decompression bomb).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

import zstandard

CHUNK_BYTES = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Skippable zstd frames (pzstd writes one first) start with 0x184D2A50..0x184D2A5F (LE).
_ZSTD_SKIPPABLE_MAGIC = b"\x2a\x4d\x18"
_ZSTD_BLOCK_MAX = 128 << 10  # decoded size of a zstd block, at most (RFC 8878)
# Compressed bytes given to zlib per call: small enough that a damage report's compressed
# offset is close to the damage.
_GZIP_FEED_BYTES = 64 << 10


class CorruptInput(Exception):
    """Input bytes that cannot be decoded; `offset` is in the decompressed stream and
    `raw_offset`, when known, is how many compressed bytes were taken before the damage."""

    def __init__(self, message: str, offset: int, raw_offset: int | None = None):
        super().__init__(message)
        self.offset = offset
        self.raw_offset = raw_offset


def compression_of(path: str) -> str | None:
    """'gzip', 'zstd' or None, from the file name."""
    lower = path.lower()
    if lower.endswith((".gz", ".gzip")):
        return "gzip"
    if lower.endswith((".zst", ".zstd")):
        return "zstd"
    return None


class Taken:
    """How many compressed bytes a decoder has taken so far (`bytes`), kept up to date
    before each chunk it gives: what a reader compares its output with to tell a
    decompression bomb from data."""

    def __init__(self):
        self.bytes = 0


def read_chunks(
    raw: Iterable[bytes],
    compression: str | None,
    max_chunk: int = CHUNK_BYTES,
    taken: Taken | None = None,
) -> Iterator[bytes]:
    """Decompressed chunks (each at most `max_chunk` bytes when compressed) of a raw byte
    stream; raises CorruptInput on damage. `taken`, when given, follows the compressed
    bytes taken."""
    taken = taken or Taken()
    if compression is None:
        for chunk in raw:
            taken.bytes += len(chunk)
            yield chunk
    elif compression == "gzip":
        yield from _gunzip(raw, max_chunk, taken)
    elif compression == "zstd":
        yield from _unzstd(raw, max_chunk, taken)
    else:
        raise ValueError(f"unknown compression {compression!r}")


def _between_members(data: bytes, magic: bytes, name: str, produced: int, taken: int):
    """Raise CorruptInput unless `data` (what follows a member/frame) starts one."""
    if not data.startswith(magic):
        where = "not a" if produced == 0 else "garbage after the end of a"
        raise CorruptInput(f"{where} {name} stream ({data[:4]!r})", produced, taken)


def _gunzip(raw: Iterable[bytes], max_chunk: int, counter: Taken) -> Iterator[bytes]:
    """Concatenated gzip members, a fresh decoder per member, at most `max_chunk` out per call."""
    produced = taken = 0  # decompressed bytes out, compressed bytes consumed
    decoder = None
    pending = b""  # bytes between members, held until the next magic number can be checked
    for chunk in raw:
        if pending:
            chunk, pending = pending + chunk, b""
        at = 0
        while at < len(chunk):
            if decoder is None:
                if len(chunk) - at < len(GZIP_MAGIC) and GZIP_MAGIC.startswith(chunk[at:]):
                    pending = chunk[at:]
                    break
                _between_members(chunk[at : at + 4], GZIP_MAGIC, "gzip", produced, taken)
                decoder = zlib.decompressobj(wbits=31)
            data = chunk[at : at + _GZIP_FEED_BYTES]
            at += len(data)
            while True:
                try:
                    out = decoder.decompress(data, max_chunk)
                except zlib.error as err:
                    raise CorruptInput(f"gzip data is corrupt: {err}", produced, taken) from err
                if out:
                    produced += len(out)
                    left = decoder.unused_data if decoder.eof else decoder.unconsumed_tail
                    counter.bytes = taken + len(data) - len(left)
                    yield out
                if decoder.eof:
                    # What zlib did not take belongs to the next member (or is garbage).
                    left = len(decoder.unused_data)
                    taken += len(data) - left
                    at -= left
                    decoder = None
                    break
                tail = decoder.unconsumed_tail
                taken += len(data) - len(tail)
                data = tail
                # Output may be pending inside zlib even when all input was taken.
                if not data and len(out) < max_chunk:
                    break
    if decoder is not None or pending:
        raise CorruptInput("gzip stream is truncated (no end-of-stream marker)", produced, taken)


def _unzstd(raw: Iterable[bytes], max_chunk: int, counter: Taken) -> Iterator[bytes]:
    """Concatenated zstd frames (skippable ones skipped), at most `max_chunk` out per chunk."""
    produced = 0
    pieces = _zstd_pieces(raw, max(1, max_chunk // _ZSTD_BLOCK_MAX))
    decoder = None
    taken = 0
    for kind, data, taken_before in pieces:
        taken = taken_before
        counter.bytes = taken + len(data)
        if kind == "frame":
            decoder = zstandard.ZstdDecompressor().decompressobj()
        elif kind == "garbage":
            _between_members(data, ZSTD_MAGIC, "zstd", produced, taken)
        elif kind == "truncated":
            if decoder is not None and data:
                produced += yield from _zstd_out(decoder, data, max_chunk, produced, taken)
            raise CorruptInput(
                "zstd stream is truncated (no end-of-stream marker)", produced, taken + len(data)
            )
        elif kind == "corrupt":
            raise CorruptInput(f"zstd data is corrupt: {data.decode()}", produced, taken)
        if kind in ("frame", "blocks", "end"):
            produced += yield from _zstd_out(decoder, data, max_chunk, produced, taken)
        if kind == "end":
            if not decoder.eof:
                raise CorruptInput("zstd data is corrupt: frame did not end", produced, taken)
            decoder = None


def _zstd_out(decoder, data: bytes, max_chunk: int, produced: int, taken: int):
    """Feed `data` to `decoder`, yield its output in pieces of at most `max_chunk`; returns
    the number of bytes yielded."""
    try:
        out = decoder.decompress(data)
    except zstandard.ZstdError as err:
        raise CorruptInput(f"zstd data is corrupt: {err}", produced, taken) from err
    for at in range(0, len(out), max_chunk):
        yield out[at : at + max_chunk]
    return len(out)


def _zstd_pieces(raw: Iterable[bytes], blocks_per_piece: int):
    """Cut a zstd stream at frame and block boundaries: (kind, bytes, compressed offset).

    kind is "frame" (a frame header), "blocks" (up to `blocks_per_piece` whole blocks),
    "end" (the last blocks and the checksum of a frame), "garbage" (bytes where a frame
    should start: the caller raises), "truncated" (the stream ends inside a frame: the
    bytes left) or "corrupt" (a reserved value; the bytes are the message). Skippable
    frames are passed over.
    """
    chunks = iter(raw)
    buf = bytearray()
    taken = 0  # compressed bytes handed out before buf[0]

    def need(n: int) -> bool:
        while len(buf) < n:
            chunk = next(chunks, None)
            if chunk is None:
                return False
            buf.extend(chunk)
        return True

    def take(n: int) -> bytes:
        nonlocal taken
        out = bytes(buf[:n])
        del buf[:n]
        taken += len(out)
        return out

    def rest():
        """The stream ended inside a frame: what is left of it."""
        before = taken
        return "truncated", take(len(buf)), before

    while need(1):
        if not need(4):
            if ZSTD_MAGIC.startswith(bytes(buf)):
                yield rest()
            else:
                yield "garbage", bytes(buf), taken
            return
        if buf[1:4] == _ZSTD_SKIPPABLE_MAGIC and buf[0] & 0xF0 == 0x50:
            if not need(8):
                yield rest()
                return
            skip = 8 + int.from_bytes(buf[4:8], "little")
            while skip:
                if not need(1):
                    yield rest()
                    return
                skip -= len(take(min(skip, len(buf))))
            continue
        if buf[:4] != ZSTD_MAGIC:
            yield "garbage", bytes(buf[:4]), taken
            return
        if not need(5):
            yield rest()
            return
        descriptor = buf[4]
        if descriptor & 0x08:
            yield "corrupt", b"reserved bit set in the frame header", taken
            return
        single_segment = descriptor >> 5 & 1
        size_bytes = (single_segment, 2, 4, 8)[descriptor >> 6]
        header = 5 + (1 - single_segment) + (0, 1, 2, 4)[descriptor & 3] + size_bytes
        checksum = 4 if descriptor & 0x04 else 0
        if not need(header):
            yield rest()
            return
        yield "frame", take(header), taken - header
        last = False
        while not last:
            start = taken
            length = 0  # bytes of buf[0:length] that are whole blocks
            for _ in range(blocks_per_piece):
                if not need(length + 3):
                    yield rest()
                    return
                block = int.from_bytes(buf[length : length + 3], "little")
                kind, size = block >> 1 & 3, block >> 3
                if kind == 3:
                    if length:  # the whole blocks before it are good
                        yield "blocks", take(length), start
                    yield "corrupt", b"reserved block type", taken
                    return
                length += 3 + (1 if kind == 1 else size)
                last = bool(block & 1)
                if last:
                    length += checksum
                if not need(length):
                    yield rest()
                    return
                if last:
                    break
            yield ("end" if last else "blocks"), take(length), start


def iter_file_chunks(handle, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Raw chunks of an open binary file handle."""
    while chunk := handle.read(chunk_bytes):
        yield chunk


class Damage:
    """A marker in a decompressed stream: `error` happened here. When `resumed` is True the
    stream goes on at the next intact gzip member (its bytes follow directly, so offsets
    after it count only the bytes that could be decompressed); otherwise the stream ends."""

    def __init__(self, error: CorruptInput, resumed: bool, skipped_raw_bytes: int = 0):
        self.error = error
        self.resumed = resumed
        self.skipped_raw_bytes = skipped_raw_bytes


# Compressed bytes fed to zlib at a time: small, so the leftover input copied at the end of
# each member stays cheap (Common Crawl files hold one member per WARC record).
_FEED_BYTES = 32 << 10
# How far ahead of a candidate gzip header `_resync` decompresses to check what it holds.
_PROBE_BYTES = 64 << 10


def inflate_gzip_members(
    raw: Iterable[bytes], member_prefix: bytes = b"", chunk_bytes: int = CHUNK_BYTES
) -> Iterator[bytes | Damage]:
    """Decompressed chunks (at most `chunk_bytes` each) of a multi-member gzip stream that
    survives damage.

    Where a member is corrupt, or bytes between members are not a gzip member, a `Damage`
    is yielded and decoding resumes at the next gzip member whose data starts with
    `member_prefix` (b"WARC/" for WARC files, so random bytes that happen to look like a
    gzip header are not taken for one). A truncated last member ends with a final,
    non-resumed Damage.
    """
    chunks = iter(raw)
    buf = bytearray()
    produced = 0
    decoder = None

    def more() -> bool:
        chunk = next(chunks, None)
        if chunk is None:
            return False
        buf.extend(chunk)
        return True

    while True:
        if decoder is None:  # between members
            while len(buf) < len(GZIP_MAGIC) and more():
                pass
            if not buf:
                return
            if not buf.startswith(GZIP_MAGIC):
                where = "not a" if produced == 0 else "garbage after the end of a"
                error = CorruptInput(f"{where} gzip stream ({bytes(buf[:4])!r})", produced)
                skipped = _resync(buf, more, member_prefix)
                yield Damage(error, bool(buf), skipped)
                continue
            decoder = zlib.decompressobj(wbits=31)
        if not buf and not more():
            tail = decoder.flush()  # output zlib still holds for input it already took
            if tail:
                produced += len(tail)
                yield tail
            if not decoder.eof:
                error = CorruptInput("gzip stream is truncated (no end-of-stream marker)", produced)
                yield Damage(error, False)
            return
        piece = bytes(buf[:_FEED_BYTES])
        try:
            out = decoder.decompress(piece, chunk_bytes)
        except zlib.error as err:
            decoder = None
            del buf[:1]  # look for the next member strictly after this point
            skipped = _resync(buf, more, member_prefix) + 1
            yield Damage(CorruptInput(f"gzip data is corrupt: {err}", produced), bool(buf), skipped)
            continue
        # At the end of a member the input left over is `unused_data` (and `unconsumed_tail`
        # may still hold stale bytes); before it, input zlib did not take is `unconsumed_tail`.
        left = decoder.unused_data if decoder.eof else decoder.unconsumed_tail
        del buf[: len(piece) - len(left)]
        if out:
            produced += len(out)
            yield out
        if decoder.eof:
            decoder = None


def _resync(buf: bytearray, more, member_prefix: bytes) -> int:
    """Drop bytes from `buf` up to the next gzip member whose data starts with
    `member_prefix` (all of it if there is none); returns how many were dropped."""
    skipped = 0
    while True:
        at = buf.find(GZIP_MAGIC + b"\x08", 1 if buf.startswith(GZIP_MAGIC) else 0)
        if at < 0:
            keep = 2  # a magic number may straddle the chunk boundary
            drop = max(len(buf) - keep, 0)
            del buf[:drop]
            skipped += drop
            if not more():
                skipped += len(buf)
                buf.clear()
                return skipped
            continue
        del buf[:at]
        skipped += at
        while len(buf) < _PROBE_BYTES and more():
            pass
        try:
            head = zlib.decompressobj(wbits=31).decompress(bytes(buf[:_PROBE_BYTES]), 64)
        except zlib.error:
            head = b""
        if head.startswith(member_prefix) and (head or not member_prefix):
            return skipped
        del buf[:1]
        skipped += 1
