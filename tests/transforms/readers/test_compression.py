import gzip
import io

import pytest
import zstandard

from transforms.readers.compression import CorruptInput, iter_file_chunks, read_chunks

DATA = b"".join(b'{"text": "line %d"}\n' % i for i in range(5000))


def _chunks(data: bytes, size: int = 1000):
    return iter_file_chunks(io.BytesIO(data), size)


def _decode(data: bytes, compression):
    return b"".join(read_chunks(_chunks(data), compression))


@pytest.mark.parametrize(
    "compression, compress",
    [("gzip", lambda d: gzip.compress(d, mtime=0)), ("zstd", zstandard.compress)],
)
def test_round_trip_including_concatenated_members(compression, compress):
    assert _decode(compress(DATA), compression) == DATA
    assert _decode(compress(DATA) + compress(DATA), compression) == DATA + DATA


@pytest.mark.parametrize(
    "compression, compress",
    [("gzip", lambda d: gzip.compress(d, mtime=0)), ("zstd", zstandard.compress)],
)
def test_truncated_stream_raises_with_offset_after_good_data(compression, compress):
    blob = compress(DATA)
    produced = bytearray()
    with pytest.raises(CorruptInput, match="truncated") as err:
        for out in read_chunks(_chunks(blob[: len(blob) // 2]), compression):
            produced += out
    assert err.value.offset == len(produced)
    assert DATA.startswith(bytes(produced))


def test_wrong_format_is_reported_at_offset_zero():
    with pytest.raises(CorruptInput, match="not a gzip stream") as err:
        _decode(DATA, "gzip")
    assert err.value.offset == 0
    with pytest.raises(CorruptInput, match="not a zstd stream"):
        _decode(gzip.compress(DATA), "zstd")


def test_garbage_after_the_last_member_is_reported():
    with pytest.raises(CorruptInput, match="garbage after the end") as err:
        _decode(gzip.compress(DATA) + b"trailing junk", "gzip")
    assert err.value.offset == len(DATA)


def test_flipped_byte_is_reported_not_silently_decoded():
    blob = bytearray(gzip.compress(DATA, mtime=0))
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(CorruptInput):
        _decode(bytes(blob), "gzip")


def test_plain_files_pass_through():
    assert _decode(DATA, None) == DATA
