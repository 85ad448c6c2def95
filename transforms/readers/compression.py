"""Streaming decompression that reports damage instead of hiding it.

Python's gzip module and zstandard's stream reader either raise late or end quietly on a
truncated stream. Here every codec is a generator of decompressed chunks that raises
`CorruptInput` with the decompressed offset where the damage was found, so readers can
dead-letter it and keep what came before.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

import zstandard

CHUNK_BYTES = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class CorruptInput(Exception):
    """Input bytes that cannot be decoded; `offset` is in the decompressed stream."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


def compression_of(path: str) -> str | None:
    """'gzip', 'zstd' or None, from the file name."""
    lower = path.lower()
    if lower.endswith((".gz", ".gzip")):
        return "gzip"
    if lower.endswith((".zst", ".zstd")):
        return "zstd"
    return None


def read_chunks(raw: Iterable[bytes], compression: str | None) -> Iterator[bytes]:
    """Decompressed chunks of a raw byte stream; raises CorruptInput on damage."""
    if compression is None:
        yield from raw
    elif compression == "gzip":
        yield from _inflate(raw, GZIP_MAGIC, "gzip", lambda: zlib.decompressobj(wbits=31))
    elif compression == "zstd":
        yield from _inflate(
            raw, ZSTD_MAGIC, "zstd", lambda: zstandard.ZstdDecompressor().decompressobj()
        )
    else:
        raise ValueError(f"unknown compression {compression!r}")


def _inflate(raw: Iterable[bytes], magic: bytes, name: str, new_decoder) -> Iterator[bytes]:
    """Decode concatenated members/frames with a fresh decoder per member."""
    produced = 0
    decoder = None
    pending = b""  # bytes between members, held until the next magic number can be checked
    for chunk in raw:
        if pending:
            chunk, pending = pending + chunk, b""
        while chunk:
            if decoder is None:
                if len(chunk) < len(magic) and magic.startswith(chunk):
                    pending = chunk
                    break
                if not chunk.startswith(magic):
                    where = "not a" if produced == 0 else "garbage after the end of a"
                    raise CorruptInput(f"{where} {name} stream ({chunk[:4]!r})", produced)
                decoder = new_decoder()
            try:
                out = decoder.decompress(chunk)
            except (zlib.error, zstandard.ZstdError) as err:
                raise CorruptInput(f"{name} data is corrupt: {err}", produced) from err
            if out:
                produced += len(out)
                yield out
            if decoder.eof:
                chunk, decoder = decoder.unused_data, None
            else:
                chunk = b""
    if decoder is not None or pending:
        raise CorruptInput(f"{name} stream is truncated (no end-of-stream marker)", produced)


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
