"""A PyTorch IterableDataset over packed token shards (needs torch: pip install ".[torch]").

Kept out of `tokenizer/__init__.py` so importing `tokenizer` never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from tokenizer.formats import TRAIN
from tokenizer.reader import SequenceReader, _check_int


class TokenShardDataset(IterableDataset):
    """This rank's packed sequences as torch.int64 tensors of seq_len.

    int64 because PyTorch's losses (`cross_entropy` targets) and most model code expect
    LongTensor token ids; the shards store int32 and the widening happens per row here.

    Order, shuffle and `start` are those of `tokenizer.reader.SequenceReader` for (rank,
    world_size, shuffle_seed, epoch). With DataLoader workers, position p of that order
    (counted from `start`) goes to worker (p // batch_size) % num_workers. The DataLoader
    takes batches from its workers round-robin (in_order=True, its default), so when
    `batch_size` equals the DataLoader's batch size, batch n holds exactly positions
    [n * batch_size, (n + 1) * batch_size): the same sequences, in the same order, for any
    num_workers, and a job that has consumed k sequences resumes with start=k.
    Every worker decodes each row group it reads from, so workers overlap decoding with
    training but do not divide the decoding work.
    """

    def __init__(
        self,
        output_dir: str,
        rank: int = 0,
        world_size: int = 1,
        shuffle_seed: int | None = None,
        epoch: int = 0,
        start: int = 0,
        *,
        batch_size: int = 1,
        split: str = TRAIN,
    ):
        super().__init__()
        _check_int("batch_size", batch_size, 1)
        self.reader = SequenceReader(
            output_dir, rank, world_size, shuffle_seed=shuffle_seed, epoch=epoch, split=split
        )
        self.reader.iter(start)  # validates start now rather than in a worker
        self.start = start
        self.batch_size = batch_size

    def __len__(self) -> int:
        """Sequences this rank yields from `start` (over all workers together)."""
        return max(0, len(self.reader) - self.start)

    def __iter__(self) -> Iterator[torch.Tensor]:
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for position, row in enumerate(self.reader.iter(self.start)):
            if (position // self.batch_size) % workers == worker:
                yield torch.from_numpy(row.astype(np.int64))
