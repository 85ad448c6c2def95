"""Tokenize documents (end-of-text after each) and pack them into rows of exactly seq_len."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TAIL_DROP = "drop"
TAIL_PAD = "pad"


@dataclass(frozen=True)
class PackConfig:
    """seq_len: tokens per row. tail: what happens to the last partial row of a shard,
    'drop' (counted in the manifest) or 'pad' (filled with the pad token)."""

    seq_len: int = 2048
    tail: str = TAIL_DROP

    def __post_init__(self):
        if self.seq_len < 1:
            raise ValueError(f"seq_len must be positive, got {self.seq_len}")
        if self.tail not in (TAIL_DROP, TAIL_PAD):
            raise ValueError(f"tail must be {TAIL_DROP!r} or {TAIL_PAD!r}, got {self.tail!r}")


@dataclass(frozen=True)
class PackedShard:
    """rows: (n, seq_len) int32; doc_starts: per row, offsets where a document begins."""

    rows: np.ndarray
    doc_starts: list[list[int]]
    documents: int
    tokens: int  # document tokens + one end-of-text per document
    tail_tokens_dropped: int
    pad_tokens: int


def document_stream(documents: Sequence[np.ndarray], eos_id: int, dtype) -> np.ndarray:
    """The documents' ids, each followed by `eos_id`, as one array of `dtype`: the token
    stream that packing cuts into rows and the document formats store as it is."""
    lengths = np.fromiter((len(d) + 1 for d in documents), np.int64, len(documents))
    stream = np.full(int(lengths.sum()), eos_id, dtype=dtype)
    start = 0
    for ids, length in zip(documents, lengths.tolist(), strict=True):
        stream[start : start + length - 1] = ids
        start += length
    return stream


def pack(
    token_arrays: list[np.ndarray], eos_id: int, pad_id: int, config: PackConfig
) -> PackedShard:
    """Concatenate documents, each followed by `eos_id`, and cut into rows of seq_len."""
    seq_len = config.seq_len
    stream = document_stream(token_arrays, eos_id, np.int32)
    total = len(stream)
    starts = np.zeros(len(token_arrays), dtype=np.int64)
    if len(token_arrays):
        lengths = np.fromiter((len(a) + 1 for a in token_arrays), np.int64, len(token_arrays))
        starts[1:] = np.cumsum(lengths)[:-1]
    n_full, tail = divmod(total, seq_len)
    pad_tokens = 0
    if tail and config.tail == TAIL_PAD:
        pad_tokens = seq_len - tail
        stream = np.concatenate([stream, np.full(pad_tokens, pad_id, dtype=np.int32)])
        n_full += 1
    rows = stream[: n_full * seq_len].reshape(n_full, seq_len)
    kept_starts = starts[starts < n_full * seq_len]
    boundaries = np.searchsorted(kept_starts, np.arange(n_full + 1) * seq_len)
    doc_starts = [
        (kept_starts[boundaries[r] : boundaries[r + 1]] - r * seq_len).astype(int).tolist()
        for r in range(n_full)
    ]
    return PackedShard(
        rows=rows,
        doc_starts=doc_starts,
        documents=len(token_arrays),
        tokens=total,
        tail_tokens_dropped=0 if config.tail == TAIL_PAD else tail,
        pad_tokens=pad_tokens,
    )
