"""Read packed token shards for training: each data-parallel rank gets its own shards."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import numpy as np
import pyarrow.parquet as pq


def shard_paths(output_dir: str) -> list[str]:
    """The token shard paths listed in `output_dir/manifest.json`, in shard order."""
    with open(os.path.join(output_dir, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    return [os.path.join(output_dir, s["path"]) for s in manifest["tokens"]["shards"]]


def iter_sequences(output_dir: str, rank: int = 0, world_size: int = 1) -> Iterator[np.ndarray]:
    """Yield the packed rows (int32 arrays of seq_len) that data-parallel `rank` reads.

    Shard i belongs to rank i % world_size; the pipeline makes the shard count a multiple
    of the world size it was run with, so every rank gets the same number of shards.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    for path in shard_paths(output_dir)[rank::world_size]:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(columns=["input_ids"]):
            column = batch.column(0)
            width = len(column[0]) if len(column) else 0
            values = column.flatten().to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
            yield from values.reshape(-1, width) if width else ()
