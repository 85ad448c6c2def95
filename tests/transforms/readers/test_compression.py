import gzip
import io

import pytest
import zstandard

from transforms.readers.compression import (
    CorruptInput,
    Damage,
    inflate_gzip_members,
    iter_file_chunks,
    read_chunks,
)

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


# --- gzip members that survive damage (the WARC reader's decoder) ------------------------

MEMBERS = [b"WARC/1.0 record %d " % i + bytes(range(256)) * (i + 1) for i in range(6)]


def _members(data: bytes, chunk: int = 1000, **kwargs):
    """(decompressed bytes, [Damage, ...]) of inflate_gzip_members over `data`."""
    out, damage = bytearray(), []
    for item in inflate_gzip_members(_chunks(data, chunk), b"WARC/", **kwargs):
        if isinstance(item, Damage):
            damage.append(item)
        else:
            out += item
    return bytes(out), damage


def _gz(parts):
    return [gzip.compress(p, mtime=0) for p in parts]


@pytest.mark.parametrize("chunk", [1, 13, 1000, 1 << 20])
def test_members_decode_whatever_the_chunking(chunk):
    out, damage = _members(b"".join(_gz(MEMBERS)), chunk)
    assert (out, damage) == (b"".join(MEMBERS), [])


def test_output_chunks_are_bounded():
    data = b"WARC/" + b"x" * (5 << 20)
    chunks = list(inflate_gzip_members(_chunks(gzip.compress(data), 1 << 20), chunk_bytes=4096))
    assert b"".join(chunks) == data and max(map(len, chunks)) == 4096


def test_corrupt_member_is_skipped_and_reading_resumes():
    members = _gz(MEMBERS)
    broken = bytearray(members[2])
    broken[len(broken) // 2] ^= 0x55
    members[2] = bytes(broken)
    out, (damage,) = _members(b"".join(members))
    assert out == b"".join(MEMBERS[:2] + MEMBERS[3:])
    assert damage.resumed and "corrupt" in str(damage.error)
    assert damage.error.offset == len(MEMBERS[0]) + len(MEMBERS[1])


@pytest.mark.parametrize("garbage", [b"x", b"\x1f\x8b\x08 not a member", b"\x00" * 5000])
def test_garbage_between_members_is_reported_and_skipped(garbage):
    members = _gz(MEMBERS)
    out, (damage,) = _members(b"".join(members[:3]) + garbage + b"".join(members[3:]))
    assert out == b"".join(MEMBERS)
    assert damage.resumed and damage.skipped_raw_bytes == len(garbage)
    assert damage.error.offset == sum(map(len, MEMBERS[:3]))


def test_members_not_starting_with_the_prefix_are_not_resumed_at():
    # After damage, a member whose data is not a WARC record is not taken for a fresh start.
    members = _gz([MEMBERS[0], b"HTTP/1.1 200 OK, the middle of a record", MEMBERS[1]])
    damaged = members[0] + b"junk" + members[1] + members[2]
    out, (damage,) = _members(damaged)
    assert out == MEMBERS[0] + MEMBERS[1]
    assert damage.skipped_raw_bytes == 4 + len(members[1])


def test_truncated_and_unrecoverable_streams_end_with_a_final_damage():
    data = b"".join(_gz(MEMBERS))
    out, (damage,) = _members(data[:-5])
    assert not damage.resumed and "truncated" in str(damage.error)
    assert b"".join(MEMBERS).startswith(out) and len(out) > sum(map(len, MEMBERS[:5]))
    out, (damage,) = _members(b"no gzip here at all")
    assert (out, damage.resumed, damage.error.offset) == (b"", False, 0)


# --- bounded output: a bomb costs no more memory than a normal file -----------------------


def _zstd_stream(data: bytes, pieces: int = 1, **kwargs) -> bytes:
    """`data` written `pieces` times through zstandard's streaming compressor."""
    out = io.BytesIO()
    with zstandard.ZstdCompressor(**kwargs).stream_writer(out, closefd=False) as writer:
        for _ in range(pieces):
            writer.write(data)
    return out.getvalue()


@pytest.mark.parametrize(
    "compression, bomb",
    [
        ("gzip", lambda: gzip.compress(bytes(64 << 20), 9)),
        ("zstd", lambda: _zstd_stream(bytes(1 << 20), 64, write_checksum=True)),
    ],
)
@pytest.mark.parametrize("max_chunk", [4096, 1 << 20])
def test_the_inflater_never_returns_more_than_its_cap_per_call(compression, bomb, max_chunk):
    blob = bomb()
    assert len(blob) < (1 << 20)  # 64 MiB of zeros in well under a MiB
    total = 0
    for out in read_chunks(_chunks(blob, 1 << 20), compression, max_chunk):
        assert 0 < len(out) <= max_chunk
        total += len(out)
    assert total == 64 << 20


def test_zstd_frames_with_checksums_sizes_and_skippable_frames_are_read():
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"hello"
    framed = zstandard.ZstdCompressor(write_checksum=True, write_content_size=True).compress
    blob = skippable + framed(DATA) + _zstd_stream(DATA) + skippable
    for chunk in (1, 7, 1 << 20):
        assert b"".join(read_chunks(_chunks(blob, chunk), "zstd")) == DATA + DATA


@pytest.mark.parametrize("cut", [2, 5, 8, 100, -1])
def test_zstd_cut_anywhere_is_truncated_with_the_compressed_offset(cut):
    blob = _zstd_stream(DATA, write_checksum=True)
    cut = cut % len(blob)
    produced = bytearray()
    with pytest.raises(CorruptInput, match="truncated") as err:
        for out in read_chunks(_chunks(blob[:cut], 1000), "zstd"):
            produced += out
    assert err.value.offset == len(produced) and DATA.startswith(bytes(produced))
    assert err.value.raw_offset == cut


def test_corrupt_gzip_names_the_compressed_bytes_taken_before_the_damage():
    good = gzip.compress(DATA, mtime=0)
    blob = bytearray(good + gzip.compress(DATA, mtime=0))
    blob[len(good) + 40] ^= 0xFF
    produced = bytearray()
    with pytest.raises(CorruptInput) as err:
        for out in read_chunks(_chunks(bytes(blob), 1 << 20), "gzip"):
            produced += out
    assert err.value.offset == len(produced) and len(produced) >= len(DATA)
    assert len(good) <= err.value.raw_offset <= len(good) + 40


@pytest.mark.parametrize(
    "compression, compress",
    [
        (None, lambda d: d),
        ("gzip", lambda d: gzip.compress(d, mtime=0)),
        ("zstd", zstandard.compress),
    ],
)
def test_taken_follows_the_compressed_bytes_each_chunk_came_from(compression, compress):
    from transforms.readers.compression import Taken

    blob = compress(DATA * 20)
    taken, seen = Taken(), []
    for _ in read_chunks(_chunks(blob, 1 << 12), compression, max_chunk=1 << 14, taken=taken):
        seen.append(taken.bytes)
    assert len(seen) > 3 and seen == sorted(seen) and 0 < seen[0] and seen[-1] == len(blob)
