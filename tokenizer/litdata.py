"""Write litdata's optimized token format natively (no litdata import needed).

A dataset folder is ``index.json`` plus chunk files. A chunk is litdata's item container: a
little-endian uint32 item count N, N+1 uint32 byte offsets of the items (from the file start),
then the items back to back. Here each item is one document's ids followed by eos_id, so the
item bytes are the chunk's token stream. ``index.json`` lists each chunk's file, size, item
count and token count (``dim``) and declares ``no_header_numpy`` tokens read by ``TokensLoader``.

``TokensLoader(block_size=B)`` does not cut the dataset-wide concatenation: it cuts each chunk
on its own, in index order, into ``dim // B`` blocks of B consecutive tokens. The last
``dim % B`` tokens of every chunk are dropped, and no block ever straddles two chunks.
"""

from __future__ import annotations

import json

import numpy as np

from tokenizer.pack import document_stream

INDEX_FILENAME = "index.json"

# litdata names a numpy dtype by its position in litdata.constants._NUMPY_SCTYPES.
_DATA_FORMAT_BY_DTYPE = {"uint16": "no_header_numpy:5", "int32": "no_header_numpy:2"}
# litdata's treespec for a sample that is a single array (a pytree leaf).
_LEAF_DATA_SPEC = '[1, {"type": null, "context": null, "children_spec": []}]'
_HEADER_DTYPE = np.dtype("<u4")
_HEADER_WORD = _HEADER_DTYPE.itemsize


def _token_dtype(dtype: np.dtype) -> np.dtype:
    token_dtype = np.dtype(dtype)
    if token_dtype.name not in _DATA_FORMAT_BY_DTYPE:
        raise ValueError(f"dtype must be uint16 or int32, got {token_dtype}")
    return token_dtype.newbyteorder("<")


def _header_bytes(items: int) -> int:
    """Item count plus items + 1 offsets, one uint32 each."""
    return _HEADER_WORD * (items + 2)


def litdata_chunk(documents: list[np.ndarray], eos_id: int, dtype: np.dtype) -> tuple[bytes, int]:
    """One chunk file's bytes holding the token stream (every document's ids followed by eos_id,
    in the given order), as TokensLoader reads it, and its token count (the chunk's `dim`).

    One item per document. Zero documents give a valid chunk of 0 tokens (an 8-byte header).
    """
    token_dtype = _token_dtype(dtype)
    for document in documents:
        document = np.asarray(document)
        if document.ndim != 1 or not np.issubdtype(document.dtype, np.integer):
            raise ValueError(
                f"documents must be 1-D integer arrays, got {document.dtype} {document.shape}"
            )
    stream = document_stream(documents, eos_id, np.int64)  # checked below, then narrowed
    limits = np.iinfo(token_dtype)
    if stream.size and (stream.min() < limits.min or stream.max() > limits.max):
        raise ValueError(f"token ids outside {token_dtype.name} range [{limits.min}, {limits.max}]")

    item_tokens = np.array([len(document) + 1 for document in documents], dtype=np.int64)
    token_ends = np.concatenate(([0], np.cumsum(item_tokens)))
    offsets = _header_bytes(len(documents)) + token_dtype.itemsize * token_ends
    if offsets[-1] > np.iinfo(_HEADER_DTYPE).max:
        raise ValueError(f"chunk of {offsets[-1]} bytes exceeds the 4 GiB uint32 offsets")
    header = np.concatenate(([len(documents)], offsets)).astype(_HEADER_DTYPE)
    return header.tobytes() + stream.astype(token_dtype).tobytes(), int(stream.size)


def _chunk_entry(chunk: dict, token_size: int) -> dict:
    """index.json entry; the item count (which sizes the header) follows from bytes and tokens."""
    filename, tokens, size = str(chunk["filename"]), int(chunk["tokens"]), int(chunk["bytes"])
    if not filename or filename.startswith("/") or tokens < 0:
        raise ValueError(f"bad chunk {chunk!r}")
    header = size - tokens * token_size
    items = header // _HEADER_WORD - 2
    if header % _HEADER_WORD or items < 0 or items > tokens:
        raise ValueError(f"chunk {filename!r}: {size} bytes do not fit {tokens} tokens")
    return {"chunk_bytes": size, "chunk_size": items, "dim": tokens, "filename": filename}


def litdata_index(chunks: list[dict], dtype: np.dtype) -> bytes:
    """index.json bytes for a folder of chunks. `chunks`: one dict per chunk with keys "filename"
    (relative to the folder), "tokens" (dim), "bytes" (chunk file size); the index lists them
    sorted by filename. Deterministic: the same input gives the same bytes (no timestamps, no
    random ids, sorted keys, fixed formatting).

    Zero-token chunks are kept: litdata reads them (they give no blocks).
    """
    token_dtype = _token_dtype(dtype)
    entries = sorted(
        (_chunk_entry(chunk, token_dtype.itemsize) for chunk in chunks),
        key=lambda entry: entry["filename"],
    )
    filenames = [entry["filename"] for entry in entries]
    if len(set(filenames)) != len(filenames):
        raise ValueError("chunk filenames must be unique")
    config = {
        "chunk_bytes": None,
        "chunk_size": None,
        "compression": None,
        "compression_batch_size": None,
        "compression_level": None,
        "data_format": [_DATA_FORMAT_BY_DTYPE[token_dtype.name]],
        "data_spec": _LEAF_DATA_SPEC,
        "encryption": None,
        "ipc_compression": None,
        "item_loader": "TokensLoader",
        "types": None,
    }
    index = {"chunks": entries, "config": config}
    return (json.dumps(index, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")
