import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.write import TEMPORARY_DIR, WriteSharded, shard_count, shard_name, write_atomically


def test_shard_names_and_counts():
    assert shard_name("tokens", 3, 8, "parquet") == "tokens-00003-of-00008.parquet"
    assert shard_count(0, 100) == 1
    assert shard_count(250, 100) == 3
    assert shard_count(250, 100, multiple_of=4) == 4
    assert shard_count(900, 100, multiple_of=4) == 12


def test_write_atomically_overwrites_and_leaves_no_partial_file(tmp_path):
    out = str(tmp_path)
    first = write_atomically(out, "sub/file.bin", b"first")
    again = write_atomically(out, "sub/file.bin", b"second")  # a retried task
    assert (tmp_path / "sub" / "file.bin").read_bytes() == b"second"
    assert first["path"] == again["path"] == "sub/file.bin"
    assert again["bytes"] == 6 and len(again["sha256"]) == 64
    assert os.listdir(tmp_path / TEMPORARY_DIR) == []


def _write(out, items, target):
    with TestPipeline() as p:
        meta = (
            p
            | beam.Create(items)
            | WriteSharded(
                out,
                folder="things",
                prefix="things",
                extension="txt",
                key=lambda x: (x,),
                weight=lambda x: len(x) + 1,
                serialize=lambda xs: ("\n".join(xs).encode(), {"first": xs[0] if xs else None}),
                target=target,
            )
        )
        rows = meta | beam.Map(lambda m: m["rows"]) | beam.CombineGlobally(sum)
        assert_that(rows, equal_to([len(items)]))


def test_sharded_write_is_independent_of_input_order(tmp_path):
    items = [f"item-{i:03d}" for i in range(100)]
    _write(str(tmp_path / "a"), items, target=225)
    _write(str(tmp_path / "b"), list(reversed(items)), target=225)
    names = sorted(os.listdir(tmp_path / "a" / "things"))
    assert names == sorted(os.listdir(tmp_path / "b" / "things"))
    assert len(names) == 4 and names[0] == "things-00000-of-00004.txt"
    for name in names:
        assert (tmp_path / "a" / "things" / name).read_bytes() == (
            tmp_path / "b" / "things" / name
        ).read_bytes()
    lines = b"\n".join((tmp_path / "a" / "things" / n).read_bytes() for n in names).split(b"\n")
    assert sorted(lines) == sorted(i.encode() for i in items)


def test_sharded_write_of_nothing_writes_nothing(tmp_path):
    _write(str(tmp_path), [], target=10)
    assert not (tmp_path / "things").exists()
