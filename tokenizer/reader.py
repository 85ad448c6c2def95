"""Read packed token shards for training: each data-parallel rank gets its own shards.

A rank's sequences come in blocks, one per (shard, row group). Unshuffled, blocks follow
shard order then row-group order and rows keep their order. With a shuffle seed the blocks
are permuted and so are the rows inside each block, from numpy Generators seeded with
(seed, epoch, rank), so only one row group is decoded at a time. `start` skips a prefix of
that order using the row counts in the Parquet footers: skipped row groups are not decoded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from tokenizer.formats import SPLITS, TRAIN, VALIDATION

INPUT_IDS = "input_ids"
DOC_STARTS = "doc_starts"
# Leading words of the seed entropy, so the block order and the row orders inside blocks
# come from different streams (numpy's SeedSequence ignores trailing zeros in the entropy).
_ORDER_STREAM = 0
_ROWS_STREAM = 1


def _load_manifest(output_dir: str) -> dict:
    with open(os.path.join(output_dir, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


def _split_section(manifest: dict, split: str) -> dict:
    """The manifest's parquet section of `split` ("train" or "validation")."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'validation', got {split!r}")
    section = manifest["tokens"] if split == TRAIN else manifest.get(VALIDATION)
    if section is None:
        raise ValueError("this run has no validation split (it ran with --validation_fraction 0)")
    return section


def shard_paths(output_dir: str, split: str = TRAIN) -> list[str]:
    """The token shard paths of `split` listed in `output_dir/manifest.json`, in order."""
    section = _split_section(_load_manifest(output_dir), split)
    return [os.path.join(output_dir, s["path"]) for s in section["shards"]]


@dataclass(frozen=True, slots=True)
class _Block:
    """One row group of one shard: `shard` is the shard's index in the manifest."""

    shard: int
    path: str
    row_group: int
    rows: int


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


class SequenceReader:
    """The packed sequences data-parallel `rank` of `world_size` reads from a shard directory,
    of the train split or, with `split="validation"`, the validation split.

    Shard i of `output_dir/manifest.json` belongs to rank i % world_size, so the shard count
    must be a multiple of world_size. `shuffle_seed=None` keeps shard order then row order
    (`epoch` is then unused); a non-negative seed gives a block-local shuffle that depends on
    (shuffle_seed, epoch, rank). Only Parquet footers are read here; `len()` is the number of
    sequences this rank reads per epoch. Holds only paths and counts, so it pickles cheaply.
    """

    def __init__(
        self,
        output_dir: str,
        rank: int = 0,
        world_size: int = 1,
        *,
        shuffle_seed: int | None = None,
        epoch: int = 0,
        split: str = TRAIN,
    ):
        _check_int("world_size", world_size, 1)
        _check_int("rank", rank, 0)
        if rank >= world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        if shuffle_seed is not None:
            _check_int("shuffle_seed", shuffle_seed, 0)
        _check_int("epoch", epoch, 0)
        tokens = _split_section(_load_manifest(output_dir), split)
        paths = [os.path.join(output_dir, s["path"]) for s in tokens["shards"]]
        if len(paths) % world_size:
            raise ValueError(
                f"{len(paths)} token shards cannot be split evenly over world_size "
                f"{world_size}: the shard count must be a multiple of the world size "
                f"(the pipeline wrote them for dp_world_size {tokens.get('dp_world_size')})"
            )
        self.output_dir = output_dir
        self.rank, self.world_size = int(rank), int(world_size)
        self.shuffle_seed = None if shuffle_seed is None else int(shuffle_seed)
        self.epoch = int(epoch)
        self.seq_len: int | None = tokens.get("seq_len")
        self.shards = paths[rank::world_size]
        blocks = []
        for shard in range(rank, len(paths), world_size):
            metadata = pq.read_metadata(paths[shard])
            for group in range(metadata.num_row_groups):
                rows = metadata.row_group(group).num_rows
                if rows:
                    blocks.append(_Block(shard, paths[shard], group, rows))
        self._blocks = self._ordered(blocks)

    def _seed(self, *words: int) -> list[int]:
        return [self.shuffle_seed, self.epoch, self.rank, *words]

    def _ordered(self, blocks: list[_Block]) -> list[_Block]:
        if self.shuffle_seed is None:
            return blocks
        order = np.random.default_rng(self._seed(_ORDER_STREAM)).permutation(len(blocks))
        return [blocks[i] for i in order]

    def _row_order(self, block: _Block) -> np.ndarray | None:
        if self.shuffle_seed is None:
            return None
        rng = np.random.default_rng(self._seed(_ROWS_STREAM, block.shard, block.row_group))
        return rng.permutation(block.rows)

    def __len__(self) -> int:
        return sum(b.rows for b in self._blocks)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iter()

    def iter(
        self, start: int = 0, with_doc_starts: bool = False
    ) -> Iterator[np.ndarray] | Iterator[tuple[np.ndarray, np.ndarray]]:
        """Sequences from position `start` of this rank's order (nothing when start >= len).

        Yields int32 arrays of seq_len, or (input_ids, doc_starts) int32 array pairs when
        `with_doc_starts`. Row groups wholly before `start` are skipped without decoding.
        """
        _check_int("start", start, 0)
        return self._iter(int(start), with_doc_starts)

    def _iter(self, start: int, with_doc_starts: bool):
        columns = [INPUT_IDS, DOC_STARTS] if with_doc_starts else [INPUT_IDS]
        first = start
        for block in self._blocks:
            if first >= block.rows:
                first -= block.rows
                continue
            ids, starts = _read_block(block, columns, self.seq_len)
            order = self._row_order(block)
            if order is None:
                order = np.arange(block.rows)
            for row in order[first:]:
                yield (ids[row], starts[row]) if with_doc_starts else ids[row]
            first = 0


def _read_block(
    block: _Block, columns: list[str], seq_len: int | None
) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Decode one row group -> ((rows, seq_len) int32 array, per-row int32 doc starts or None).

    Raises ValueError when a row does not hold exactly seq_len tokens.
    """
    with pq.ParquetFile(block.path) as parquet:
        table = parquet.read_row_group(block.row_group, columns=columns)
    ids = table.column(INPUT_IDS).combine_chunks()
    offsets = ids.offsets.to_numpy()
    lengths = np.diff(offsets)
    width = seq_len if seq_len is not None else int(lengths[0])
    if len(lengths) != block.rows or np.any(lengths != width):
        raise ValueError(
            f"{block.path} row group {block.row_group}: rows must hold exactly {width} "
            f"tokens, found lengths {sorted(set(lengths.tolist()))}"
        )
    values = ids.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]]
    # A copy: Arrow's buffers are read-only, and callers may keep or modify rows.
    rows = np.array(values, dtype=np.int32).reshape(block.rows, width)
    if DOC_STARTS not in columns:
        return rows, None
    starts = table.column(DOC_STARTS).combine_chunks()
    bounds = starts.offsets.to_numpy()
    flat = np.array(starts.values.to_numpy(zero_copy_only=False), dtype=np.int32)
    return rows, np.split(flat[bounds[0] : bounds[-1]], bounds[1:-1] - bounds[0])


def iter_sequences(
    output_dir: str,
    rank: int = 0,
    world_size: int = 1,
    *,
    shuffle_seed: int | None = None,
    epoch: int = 0,
    start: int = 0,
    with_doc_starts: bool = False,
    split: str = TRAIN,
) -> Iterator[np.ndarray] | Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield the packed rows data-parallel `rank` of `world_size` reads from `output_dir`'s
    `split` ("train" or "validation").

    Rows are int32 arrays of seq_len, or (input_ids, doc_starts) int32 array pairs when
    `with_doc_starts`. Order, shuffle and resume (`start` = sequences to skip) are those of
    `SequenceReader`; arguments are checked (ValueError) when this is called, not when the
    iterator is first advanced.
    """
    reader = SequenceReader(
        output_dir, rank, world_size, shuffle_seed=shuffle_seed, epoch=epoch, split=split
    )
    return reader.iter(start, with_doc_starts)
