"""The token shard reader: order, rank split, shuffle, resume, doc starts, torch and HF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.arrow import table_to_parquet_bytes, token_rows_to_table
from tokenizer import SequenceReader, iter_sequences, shard_paths

SEQ_LEN = 6
SHARDS = 8
ROWS = 10  # per shard
ROWS_PER_GROUP = 4  # row groups of 4, 4, 2 rows


def doc_starts_of(row_id: int) -> list[int]:
    """Per-row document starts of varying length (some rows list none)."""
    return list(range(row_id % 3, SEQ_LEN, 2 + row_id % 4))[: row_id % 4]


def write_shards(out: Path, rows_per_shard: list[int], rows_per_group: int = ROWS_PER_GROUP):
    """Token shards + manifest.json under `out`; row r of the whole set holds the tokens
    r * SEQ_LEN ... r * SEQ_LEN + SEQ_LEN - 1. Returns (all rows, all doc starts) in shard
    order."""
    (out / "tokens").mkdir(parents=True)
    entries, all_rows, all_starts, next_row = [], [], [], 0
    for index, n in enumerate(rows_per_shard):
        ids = np.arange(next_row * SEQ_LEN, (next_row + n) * SEQ_LEN, dtype=np.int32)
        rows = ids.reshape(n, SEQ_LEN)
        starts = [doc_starts_of(next_row + r) for r in range(n)]
        data = table_to_parquet_bytes(token_rows_to_table(rows, starts), rows_per_group)
        path = f"tokens/tokens-{index:05d}-of-{len(rows_per_shard):05d}.parquet"
        (out / path).write_bytes(data)
        entries.append({"path": path, "rows": n, "tokens": n * SEQ_LEN, "sha256": "-"})
        all_rows.extend(rows)
        all_starts.extend(starts)
        next_row += n
    manifest = {"tokens": {"seq_len": SEQ_LEN, "dp_world_size": 2, "shards": entries}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return all_rows, all_starts


@pytest.fixture
def shards(tmp_path):
    """(output dir, rows in shard order, doc starts): 8 shards of 10 rows in 3 row groups."""
    out = tmp_path / "out"
    rows, starts = write_shards(out, [ROWS] * SHARDS)
    return str(out), rows, starts


def rank_rows(rows: list[np.ndarray], rank: int, world_size: int) -> list[np.ndarray]:
    """Rows of the shards rank i % world_size reads, in shard then row order."""
    per_shard = [rows[i * ROWS : (i + 1) * ROWS] for i in range(SHARDS)]
    return [row for shard in per_shard[rank::world_size] for row in shard]


def as_lists(rows) -> list[list[int]]:
    return [np.asarray(r).tolist() for r in rows]


def test_unshuffled_order_is_shard_then_row(shards):
    out, rows, _ = shards
    got = list(iter_sequences(out))
    assert as_lists(got) == as_lists(rows)
    assert all(r.dtype == np.int32 and r.shape == (SEQ_LEN,) for r in got)
    assert as_lists(iter_sequences(out, 1, 2)) == as_lists(rank_rows(rows, 1, 2))
    assert shard_paths(out)[3].endswith("tokens/tokens-00003-of-00008.parquet")


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_are_disjoint_and_cover_every_row(shards, world_size):
    out, rows, _ = shards
    seen = []
    for rank in range(world_size):
        got = as_lists(iter_sequences(out, rank, world_size))
        assert len(got) == len(rows) // world_size == len(SequenceReader(out, rank, world_size))
        seen.extend(map(tuple, got))
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(map(tuple, as_lists(rows)))


def test_shuffle_is_deterministic_and_a_permutation(shards):
    out, rows, _ = shards
    plain = as_lists(iter_sequences(out, 1, 2))
    shuffled = as_lists(iter_sequences(out, 1, 2, shuffle_seed=7))
    assert shuffled == as_lists(iter_sequences(out, 1, 2, shuffle_seed=7))
    assert shuffled != plain
    assert sorted(shuffled) == sorted(plain)
    assert shuffled != as_lists(iter_sequences(out, 1, 2, shuffle_seed=8))
    assert shuffled != as_lists(iter_sequences(out, 1, 2, shuffle_seed=7, epoch=1))
    # Rank 0 holds other rows; its order must not be rank 1's order mapped over.
    assert sorted(as_lists(iter_sequences(out, 0, 2, shuffle_seed=7))) == sorted(
        as_lists(rank_rows(rows, 0, 2))
    )


def test_shuffle_keeps_row_groups_together(shards):
    """Only one row group is decoded at a time: a row group's rows come out contiguously."""
    out, _, _ = shards
    for epoch in range(3):
        got = list(iter_sequences(out, shuffle_seed=3, epoch=epoch))
        # Row r of the whole set is row r % ROWS of shard r // ROWS, in its row group.
        blocks = [(int(r[0]) // SEQ_LEN // ROWS, int(r[0]) // SEQ_LEN % ROWS // 4) for r in got]
        runs = [b for i, b in enumerate(blocks) if i == 0 or blocks[i - 1] != b]
        assert len(runs) == len(set(runs)) == SHARDS * 3
        assert runs != sorted(runs)


@pytest.mark.parametrize("shuffle_seed", [None, 11])
def test_start_resumes_the_same_order(shards, shuffle_seed):
    out, _, _ = shards
    kw = {"shuffle_seed": shuffle_seed, "epoch": 2}
    full = as_lists(iter_sequences(out, 0, 2, **kw))
    assert len(full) == 40
    # 0, inside the first row group, its boundaries, a shard boundary, the last row, the end.
    for k in [0, 1, 3, 4, 5, 8, 9, 10, 11, 17, 20, 39, 40, 41, 1000]:
        assert as_lists(iter_sequences(out, 0, 2, start=k, **kw)) == full[k:], k
    reader = SequenceReader(out, 0, 2, **kw)
    assert as_lists(reader.iter(13)) == full[13:]
    assert as_lists(reader) == full


def test_start_does_not_decode_skipped_row_groups(shards):
    """Corrupt the data pages of shard 0's first row group (the footer stays intact):
    resuming past it works, reading it fails."""
    out, rows, _ = shards
    path = shard_paths(out)[0]
    group = pq.read_metadata(path).row_group(0)
    begin = min(group.column(c).data_page_offset for c in range(group.num_columns))
    end = max(
        group.column(c).data_page_offset + group.column(c).total_compressed_size
        for c in range(group.num_columns)
    )
    data = bytearray(Path(path).read_bytes())
    data[begin:end] = b"\xff" * (end - begin)
    Path(path).write_bytes(bytes(data))
    assert as_lists(iter_sequences(out, start=ROWS_PER_GROUP)) == as_lists(rows[ROWS_PER_GROUP:])
    with pytest.raises(OSError):
        list(iter_sequences(out, start=ROWS_PER_GROUP - 1))


@pytest.mark.parametrize("shuffle_seed", [None, 5])
def test_doc_starts_come_back_with_their_rows(shards, shuffle_seed):
    out, rows, starts = shards
    by_first_token = {int(r[0]): s for r, s in zip(rows, starts, strict=True)}
    got = list(iter_sequences(out, 0, 2, shuffle_seed=shuffle_seed, with_doc_starts=True))
    assert len(got) == 40
    for ids, doc_starts in got:
        assert ids.dtype == doc_starts.dtype == np.int32
        assert doc_starts.tolist() == by_first_token[int(ids[0])]
    assert any(len(s) == 0 for _, s in got) and any(len(s) > 1 for _, s in got)
    resumed = iter_sequences(out, 0, 2, shuffle_seed=shuffle_seed, start=6, with_doc_starts=True)
    assert [(a.tolist(), b.tolist()) for a, b in resumed] == [
        (a.tolist(), b.tolist()) for a, b in got[6:]
    ]


def test_uneven_and_empty_shards(tmp_path):
    """The reader does not rely on equal row counts (runs before shards were evened out, or
    hand-made shards); empty shards and empty row groups are skipped."""
    out = tmp_path / "out"
    rows, _ = write_shards(out, [5, 0, 9, 1], rows_per_group=2)
    assert as_lists(iter_sequences(out)) == as_lists(rows)
    assert as_lists(iter_sequences(out, 1, 2)) == as_lists(rows[14:])
    assert len(SequenceReader(str(out), 0, 2)) == 14
    full = as_lists(iter_sequences(out, 0, 2, shuffle_seed=1))
    assert sorted(full) == sorted(as_lists(rows[:5] + rows[5:14]))
    for k in range(16):
        assert as_lists(iter_sequences(out, 0, 2, shuffle_seed=1, start=k)) == full[k:]


def test_rows_of_the_wrong_length_are_an_error(tmp_path):
    out = tmp_path / "out"
    write_shards(out, [4])
    bad = pa.table(
        {"input_ids": pa.array([[1] * SEQ_LEN, [2] * (SEQ_LEN - 1)], type=pa.list_(pa.int32()))}
    )
    pq.write_table(bad, out / "tokens" / "tokens-00000-of-00001.parquet")
    with pytest.raises(ValueError, match=f"exactly {SEQ_LEN} tokens"):
        list(iter_sequences(out))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rank": 2, "world_size": 2}, r"rank must be in \[0, 2\), got 2"),
        ({"rank": -1, "world_size": 2}, "rank must be at least 0"),
        ({"world_size": 0}, "world_size must be at least 1"),
        ({"rank": 0, "world_size": 3}, "8 token shards .* world_size 3"),
        ({"rank": 0, "world_size": 16}, "8 token shards .* world_size 16"),
        ({"start": -1}, "start must be at least 0"),
        ({"epoch": -1}, "epoch must be at least 0"),
        ({"shuffle_seed": -3}, "shuffle_seed must be at least 0"),
        ({"shuffle_seed": 1.5}, "shuffle_seed must be an integer"),
        ({"start": 2.0}, "start must be an integer"),
    ],
)
def test_bad_arguments_are_errors(shards, kwargs, message):
    out, _, _ = shards
    with pytest.raises(ValueError, match=message):
        iter_sequences(out, **kwargs)  # raised at the call, before iterating


def test_importing_tokenizer_does_not_import_torch():
    code = "import sys, tokenizer; assert 'torch' not in sys.modules, 'torch imported'"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


TORCH_SKIP = "torch is not installed (pip install '.[torch]')"


@pytest.mark.parametrize("num_workers", [0, 2])
def test_torch_dataloader(shards, num_workers):
    torch = pytest.importorskip("torch", reason=TORCH_SKIP)
    from torch.utils.data import DataLoader

    from tokenizer.torch_dataset import TokenShardDataset

    out, _, _ = shards
    expected = as_lists(iter_sequences(out, 1, 2, shuffle_seed=4, epoch=1))
    dataset = TokenShardDataset(out, 1, 2, shuffle_seed=4, epoch=1, batch_size=3)
    loader = DataLoader(dataset, batch_size=3, num_workers=num_workers)
    batches = list(loader)
    assert len(batches) == len(loader) == 14  # 40 sequences: 13 full batches + 1
    assert all(b.dtype == torch.int64 for b in batches)
    assert [tuple(b.shape) for b in batches] == [(3, SEQ_LEN)] * 13 + [(1, SEQ_LEN)]
    got = torch.cat(batches).tolist()
    # batch_size matches the loader's: the reader's order exactly, for any num_workers.
    assert got == expected
    # Resume after 5 batches.
    resumed = TokenShardDataset(out, 1, 2, shuffle_seed=4, epoch=1, start=15, batch_size=3)
    loader = DataLoader(resumed, batch_size=3, num_workers=num_workers)
    assert torch.cat(list(loader)).tolist() == expected[15:]


def test_torch_workers_without_matching_batch_size_still_split_disjointly(shards):
    pytest.importorskip("torch", reason=TORCH_SKIP)
    from torch.utils.data import DataLoader

    from tokenizer.torch_dataset import TokenShardDataset

    out, _, _ = shards
    expected = as_lists(iter_sequences(out, 0, 4))
    loader = DataLoader(TokenShardDataset(out, 0, 4), batch_size=4, num_workers=2)
    got = [tuple(r) for b in loader for r in b.tolist()]
    assert len(got) == len(set(got)) == len(expected) == 20
    assert sorted(got) == sorted(map(tuple, expected))
    with pytest.raises(ValueError, match="batch_size"):
        TokenShardDataset(out, 0, 4, batch_size=0)
    with pytest.raises(ValueError, match="start must be at least 0"):
        TokenShardDataset(out, 0, 4, start=-1)


def test_hf_datasets_reads_the_shards(shards, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets", reason="datasets is not installed")
    # datasets reads the variables at import: also when another test imported it first.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    out, rows, starts = shards
    files = shard_paths(out)
    loaded = datasets.load_dataset(
        "parquet", data_files=files, split="train", cache_dir=os.fspath(tmp_path / "hf-cache")
    )
    assert loaded.num_rows == len(rows) == SHARDS * ROWS
    assert set(loaded.column_names) == {"input_ids", "doc_starts"}
    assert all(len(r) == SEQ_LEN for r in loaded["input_ids"])
    assert loaded["input_ids"][:] == as_lists(rows)
    assert loaded["doc_starts"][:] == starts


def test_pyarrow_reads_the_shards(shards):
    out, rows, starts = shards
    table = pq.read_table(shard_paths(out))
    assert table.schema.field("input_ids").type == pa.list_(pa.int32())
    assert table.column("input_ids").to_pylist() == as_lists(rows)
    assert table.column("doc_starts").to_pylist() == starts
