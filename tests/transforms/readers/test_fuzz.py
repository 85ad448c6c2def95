"""Fuzz: damaged copies of the real fixtures never make a reader raise, and no record is
lost silently.

Each fixture is damaged many ways (seeded, so every run tries the same cases): truncated
at random offsets, bits flipped, byte runs overwritten, garbage appended, prepended or put
between gzip members, compressed with another codec than its name says, and, for WARC,
the decompressed file damaged the same ways. For every damaged copy, `read_file` must
  - return (a reader that raised shows up as a dead letter without an offset),
  - give every dead letter the file's path and an offset inside the decompressed data,
  - account for every record of the intact file: read again under the same id (in file
    order), or covered by a dead letter that comes out between the record's nearest
    neighbours that were read and whose offset is at or before the record's,
  - read no record with different text (gzip CRCs and WARC block digests catch damage),
    and invent no record ids.
Two kinds of damage cannot be noticed by any reader and are left out, as the assertions
say where: bytes flipped in a WARC-Record-ID or WARC-Block-Digest header of an
uncompressed WARC (no checksum covers WARC headers), and bytes flipped inside the Pile
shard, a zstd frame written without a content checksum.
"""

from __future__ import annotations

import gzip
import os
import random
import re
import zlib
from dataclasses import dataclass

import pytest
import zstandard

from schemas.document import DeadLetter, Document, Rejected
from tests.transforms.readers.test_warc import split_warc
from transforms.readers import read_file
from transforms.readers.files import InputFile

SEED = 20240518
WARC_FIXTURES = [
    "commoncrawl/CC-MAIN-2020-34-sample.warc.gz",
    "commoncrawl/CC-MAIN-2024-22-whirlwind.warc.gz",
    "commoncrawl/CC-MAIN-2024-22-whirlwind.warc.wet.gz",
    "commoncrawl/clueweb09-quirks.warc.gz",
]
JSONL_FIXTURES = [
    "web-jsonl/c4-sample.01.json.gz",
    "web-jsonl/c4-guardian.jsonl.gz",
    "pile/blns-1.jsonl.zst",
]
RANDOM_CASES = 12  # of each random kind (truncate, flip, overwrite) per file


@dataclass
class Case:
    what: str
    data: bytes
    name: str  # file name the damaged copy is written under (the name picks the reader)
    extra: int = 0  # decompressed bytes the damage may have added before a record
    checked: bool = True  # flipped bytes are caught by checksums (texts and ids compared)
    clean: bool = False  # nothing is lost: same records, no dead letters


def _decompress(raw: bytes) -> bytes:
    if raw[:2] == b"\x1f\x8b":
        return gzip.decompress(raw)
    return zstandard.ZstdDecompressor().decompressobj().decompress(raw)


def _members(raw: bytes) -> list[bytes]:
    """The gzip members of a multi-member gzip file."""
    members, pos = [], 0
    while pos < len(raw):
        decoder = zlib.decompressobj(wbits=31)
        decoder.decompress(raw[pos:])
        end = len(raw) - len(decoder.unused_data)
        members.append(raw[pos:end])
        pos = end
    return members


def _garbage(rng: random.Random, size: int | None = None) -> bytes:
    return rng.randbytes(size if size is not None else rng.randrange(1, 400))


def _flip(data: bytes, rng: random.Random, avoid: list[range] = ()) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        while True:
            at = rng.randrange(len(out))
            if not any(at in span for span in avoid):
                break
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def _overwrite(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    run = _garbage(rng, rng.randrange(1, 64))
    return data[:at] + run + data[at + len(run) :]


def _random_cases(raw: bytes, name: str, rng: random.Random, checked: bool) -> list[Case]:
    cases = []
    for _ in range(RANDOM_CASES):
        cut = rng.randrange(1, len(raw))
        cases.append(Case(f"truncated at {cut}", raw[:cut], name))
        cases.append(Case("bits flipped", _flip(raw, rng), name, checked=checked))
        cases.append(Case("bytes overwritten", _overwrite(raw, rng), name, checked=checked))
    garbage = _garbage(rng)
    cases.append(Case("garbage appended", raw + garbage, name))
    cases.append(Case("garbage prepended", garbage + raw, name))
    return cases


def _warc_cases(raw: bytes, name: str, rng: random.Random) -> list[Case]:
    plain = _decompress(raw)
    stem = name.removesuffix(".gz")
    cases = _random_cases(raw, name, rng, checked=True)
    members = _members(raw)
    for _ in range(4):
        at = rng.randrange(1, len(members))
        damaged = b"".join(members[:at]) + _garbage(rng) + b"".join(members[at:])
        cases.append(Case(f"garbage before gzip member {at}", damaged, name))
        at = rng.randrange(len(members))
        header = _flip(members[at][:10], rng)  # magic, method, flags, mtime, os
        damaged = b"".join(members[:at]) + header + members[at][10:] + b"".join(members[at + 1 :])
        cases.append(Case(f"gzip header of member {at} damaged", damaged, name))
    cases += [
        Case("plain WARC named .gz", plain, name, clean=True),
        Case("zstd named .gz", zstandard.compress(plain), name, clean=True),
        Case("gzip named as a plain WARC", raw, stem, clean=True),
        Case("gzip recompressed as one member", gzip.compress(plain, mtime=0), name, clean=True),
    ]
    # The decompressed file damaged directly. No checksum covers WARC headers, so bytes in
    # the headers naming a record and its digest are not flipped.
    unchecked = [
        range(m.start(), m.end())
        for m in re.finditer(rb"WARC-(Record-ID|Block-Digest):[^\r\n]*", plain)
    ]
    for _ in range(RANDOM_CASES):
        cut = rng.randrange(1, len(plain))
        cases.append(Case(f"plain, truncated at {cut}", plain[:cut], stem))
        cases.append(Case("plain, bits flipped", _flip(plain, rng, unchecked), stem))
        at, garbage = rng.randrange(len(plain)), _garbage(rng)
        damaged = plain[:at] + garbage + plain[at:]
        cases.append(Case(f"plain, garbage at {at}", damaged, stem, extra=len(garbage)))
    # Random bytes rarely hit the few that frame records, so these are damaged on purpose:
    # a record's first line, its WARC-Type, its Content-Length, the blank line ending its
    # header.
    targets = {
        "first line": [(m.start(), 8) for m in re.finditer(rb"WARC/[01]\.\d+\r\n", plain)],
        "WARC-Type": _values(plain, rb"WARC-Type: "),
        "Content-Length": _values(plain, rb"Content-Length: "),
        "header end": [(m.start(), 4) for m in re.finditer(rb"\r\n\r\n", plain)],
    }
    for target, spans in targets.items():
        for _ in range(3):
            start, length = rng.choice(spans)
            at = start + rng.randrange(length)
            damaged = plain[:at] + bytes([plain[at] ^ (1 << rng.randrange(8))]) + plain[at + 1 :]
            cases.append(Case(f"plain, {target} damaged at {at}", damaged, stem))
    return cases


def _values(plain: bytes, name: bytes) -> list[tuple[int, int]]:
    """(offset, length) of the value of every `name` header."""
    return [(m.start(1), len(m.group(1))) for m in re.finditer(re.escape(name) + rb"(\S+)", plain)]


def _jsonl_cases(raw: bytes, name: str, rng: random.Random) -> list[Case]:
    gzipped = raw[:2] == b"\x1f\x8b"
    plain = _decompress(raw)
    # The Pile shard has no zstd content checksum: flipped bits there can change text.
    cases = _random_cases(raw, name, rng, checked=gzipped)
    other = zstandard.compress(plain) if gzipped else gzip.compress(plain, mtime=0)
    cases += [
        Case("plain text under a compressed name", plain, name),
        Case("compressed with the other codec", other, name),
    ]
    return cases


def _records(path: str) -> list:
    file = InputFile("fuzz", path, os.path.basename(path), os.path.getsize(path))
    return list(read_file(file))


def _doc(record) -> Document:
    return record.doc if isinstance(record, Rejected) else record


def _originals(path, kind: str) -> list[tuple[str, str, int]]:
    """(id, text, decompressed offset) of every record the intact file gives."""
    records = _records(path)
    assert records and not any(isinstance(r, DeadLetter) for r in records)
    plain = _decompress(open(path, "rb").read())
    if kind == "warc":
        offsets = {h.get("WARC-Record-ID"): at for at, h, _ in split_warc(plain)}
        return [(_doc(r).id, _doc(r).text, offsets[_doc(r).id]) for r in records]
    starts, at = [], 0
    for line in plain.split(b"\n"):
        if line.strip():
            starts.append(at)
        at += len(line) + 1
    assert len(starts) == len(records)
    return [(_doc(r).id, _doc(r).text, start) for r, start in zip(records, starts, strict=True)]


def _problems(case: Case, path: str, originals, total: int) -> list[str]:
    records = _records(path)
    dead = [r for r in records if isinstance(r, DeadLetter)]
    read = {_doc(r).id: _doc(r).text for r in records if not isinstance(r, DeadLetter)}
    position = {_doc(r).id: i for i, r in enumerate(records) if not isinstance(r, DeadLetter)}
    problems = []
    for letter in dead:
        if letter.error.startswith("read failed"):
            problems.append(f"the reader raised: {letter.error}")
        elif letter.source_file != path or not isinstance(letter.offset, int):
            problems.append(f"dead letter without file or offset: {letter}")
        elif not 0 <= letter.offset <= total + case.extra:
            problems.append(f"dead letter offset {letter.offset} outside 0..{total + case.extra}")
    found = [position[i] for i, _, _ in originals if i in position]
    if found != sorted(found):
        problems.append("records read out of file order")
    for number, (record_id, text, offset) in enumerate(originals):
        if record_id in read:
            if case.checked and read[record_id] != text:
                problems.append(f"{record_id} read with different text")
            continue
        # The dead letter must come out between the record's nearest neighbours that were
        # read, and say that the damage starts at or before the record.
        before = [position[i] for i, _, _ in originals[:number] if i in position]
        after = [position[i] for i, _, _ in originals[number + 1 :] if i in position]
        between = records[max(before, default=-1) + 1 : min(after, default=len(records))]
        if not any(
            isinstance(d, DeadLetter) and d.offset is not None and d.offset <= offset + case.extra
            for d in between
        ):
            problems.append(f"{record_id} (at {offset}) lost without a dead letter")
    invented = read.keys() - {record_id for record_id, _, _ in originals}
    if case.checked and invented:
        problems.append(f"records that were not in the file: {sorted(invented)[:3]}")
    if case.clean and (dead or len(read) != len(originals)):
        problems.append(f"expected every record and no dead letter: {dead[:2]}")
    return [f"{case.what}: {p}" for p in problems]


def _fuzz(fixtures, tmp_path, relative: str, kind: str):
    source = fixtures / relative
    raw = source.read_bytes()
    intact = tmp_path / source.name
    intact.write_bytes(raw)
    originals = _originals(os.fspath(intact), kind)
    total = len(_decompress(raw))
    rng = random.Random(f"{SEED}:{relative}")
    make = _warc_cases if kind == "warc" else _jsonl_cases
    problems = []
    for number, case in enumerate(make(raw, source.name, rng)):
        folder = tmp_path / str(number)
        folder.mkdir()
        path = folder / case.name
        path.write_bytes(case.data)
        problems += _problems(case, os.fspath(path), originals, total)
    assert problems == []


@pytest.mark.parametrize("relative", WARC_FIXTURES)
def test_damaged_warc_and_wet_fixtures(fixtures, tmp_path, relative):
    pytest.importorskip("fastwarc", reason="the WARC reader needs FastWARC")
    _fuzz(fixtures, tmp_path, relative, "warc")


@pytest.mark.parametrize("relative", JSONL_FIXTURES)
def test_damaged_jsonl_fixtures(fixtures, tmp_path, relative):
    _fuzz(fixtures, tmp_path, relative, "jsonl")
