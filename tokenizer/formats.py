"""The token files trainers read as they are, from one group of encoded documents. Beam-free.

`parquet` (the packed rows of `tokenizer.plan`) is one format; the others hold documents,
not rows, and leave packing to the trainer, so every copy of a document is in them whole,
followed by the end-of-text token:

- `megatron`: a Megatron-LM / NeMo indexed dataset, `prefix.bin` (the tokens) and
  `prefix.idx` (`MMIDIDX` version 1: dtype code, then per document its length and byte
  offset, then the document boundaries), one document per sequence, as megatron-core's
  `IndexedDatasetBuilder.add_document` writes it. uint16 below 65,500 vocabulary entries,
  int32 above, megatron-core's own rule (`DType.optimal_dtype`).
- `nanogpt`: one flat array of token ids, end-of-text after every document, read with
  `np.memmap(path, dtype=np.uint16)` (uint32 for a vocabulary over 65,536 entries).
- `litdata`: litdata's chunks for `TokensLoader` (`tokenizer.litdata`), one folder per
  split with its `index.json`.

Files are named `<format>/<split>-XXXXX-of-NNNNN.<ext>` (`litdata/<split>/...`), so a
trainer's data path names a split, and HF `datasets` finds the splits by name.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from schemas.shards import shard_name
from tokenizer.litdata import litdata_chunk
from tokenizer.pack import document_stream

PARQUET = "parquet"
MEGATRON = "megatron"
NANOGPT = "nanogpt"
LITDATA = "litdata"
OUTPUT_FORMATS = (PARQUET, MEGATRON, NANOGPT, LITDATA)
DOCUMENT_FORMATS = (MEGATRON, NANOGPT, LITDATA)  # documents whole, packed by the trainer

TRAIN = "train"
VALIDATION = "validation"
SPLITS = (TRAIN, VALIDATION)

_MEGATRON_HEADER = b"MMIDIDX\x00\x00"
_MEGATRON_VERSION = 1
# megatron-core's DType codes (megatron/core/datasets/indexed_dataset.py).
_MEGATRON_DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """The formats asked for, in OUTPUT_FORMATS order, each once; ValueError for an
    unknown one or none."""
    unknown = sorted(set(formats) - set(OUTPUT_FORMATS))
    if unknown:
        raise ValueError(
            f"unknown output format {', '.join(unknown)}: choose from {', '.join(OUTPUT_FORMATS)}"
        )
    if not formats:
        raise ValueError(f"no output format: choose from {', '.join(OUTPUT_FORMATS)}")
    return tuple(f for f in OUTPUT_FORMATS if f in formats)


def token_dtype(fmt: str, vocab_size: int) -> np.dtype:
    """The dtype a format stores token ids in, for ids below `vocab_size`."""
    if fmt == MEGATRON:
        return np.dtype(np.uint16 if vocab_size < 65500 else np.int32)
    if fmt == NANOGPT:
        return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)
    if fmt == LITDATA:
        return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.int32)
    raise ValueError(f"{fmt} is not a document format")


def megatron_files(
    documents: Sequence[np.ndarray], eos_id: int, dtype
) -> tuple[bytes, bytes, np.ndarray]:
    """(.bin bytes, .idx bytes, sequence lengths) of an indexed dataset with one document
    per sequence, each with its end-of-text."""
    dtype = np.dtype(dtype)
    lengths = np.fromiter((len(d) + 1 for d in documents), np.int32, len(documents))
    pointers = np.zeros(len(documents), dtype=np.int64)
    if len(documents):
        pointers[1:] = np.cumsum(lengths[:-1], dtype=np.int64) * dtype.itemsize
    boundaries = np.arange(len(documents) + 1, dtype=np.int64)
    index = b"".join(
        (
            _MEGATRON_HEADER,
            struct.pack("<Q", _MEGATRON_VERSION),
            struct.pack("<B", _MEGATRON_DTYPE_CODES[dtype]),
            struct.pack("<Q", len(documents)),
            struct.pack("<Q", len(boundaries)),
            lengths.tobytes(),
            pointers.tobytes(),
            boundaries.tobytes(),
        )
    )
    return document_stream(documents, eos_id, dtype).tobytes(), index, lengths


def document_files(
    fmt: str,
    split: str,
    group: int,
    group_count: int,
    documents: Sequence[np.ndarray],
    eos_id: int,
    vocab_size: int,
) -> list[tuple[str, bytes, dict]]:
    """One group's files in a document format: (relative path, bytes, metadata), the
    metadata giving format, split, documents (copies) and tokens; [] for an empty group."""
    if not documents:
        return []
    dtype = token_dtype(fmt, vocab_size)
    facts = {"format": fmt, "split": split, "dtype": dtype.name, "documents": len(documents)}
    if fmt == MEGATRON:
        data, index, lengths = megatron_files(documents, eos_id, dtype)
        facts["tokens"] = int(lengths.sum(dtype=np.int64))  # both files describe one dataset
        return [
            (f"{MEGATRON}/{shard_name(split, group, group_count, ext)}", content, facts)
            for ext, content in (("bin", data), ("idx", index))
        ]
    if fmt == NANOGPT:
        stream = document_stream(documents, eos_id, dtype)
        path = f"{NANOGPT}/{shard_name(split, group, group_count, 'bin')}"
        return [(path, stream.tobytes(), {**facts, "tokens": int(stream.size)})]
    data, tokens = litdata_chunk(list(documents), eos_id, dtype)
    path = f"{LITDATA}/{split}/{shard_name('chunk', group, group_count, 'bin')}"
    return [(path, data, {**facts, "tokens": tokens})]
