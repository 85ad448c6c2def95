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
