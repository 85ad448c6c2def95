"""Cross-run history: survivors' band hashes and signatures as a Parquet index. Beam-free.

A later run loads the index files of earlier runs; an indexed document takes part in
clustering as a node that outranks every document of the current run (rank class -1), so a
current document that duplicates it is dropped: earlier runs win. Indexes are only
comparable when made with the same MinHash/LSH parameters; they are in the files' schema
metadata and checked on load.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.arrow import near_dedup_index_to_table, table_to_parquet_bytes
from transforms.near_dedup.node import Node

HISTORY_CLASS = -1


def history_rank(doc_id: str, source_file: str) -> tuple:
    """The node rank of an indexed document: below (better than) every current document."""
    return (HISTORY_CLASS, 0.0, doc_id, source_file)


def index_bytes(rows: list, params: dict) -> bytes:
    """(id, source_file, band hashes, signature bytes) rows -> Parquet bytes of the index."""
    table = near_dedup_index_to_table(
        [(i, f, bands, np.frombuffer(sig, dtype="<u4")) for i, f, bands, sig in rows], params
    )
    return table_to_parquet_bytes(table)


def matching_files(pattern: str) -> list[str]:
    """Files matching `pattern` (any Beam filesystem), sorted; FileNotFoundError if none."""
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    if not paths:
        raise FileNotFoundError(f"stages.near_dedup.index_input: nothing matches {pattern}")
    return paths


def read_index(path: str, params: dict):
    """The Nodes (no Document) of one index file. ValueError if it
    was made with other parameters than `params`."""
    with FileSystems.open(path) as f:
        table = pq.read_table(io.BytesIO(f.read()))
    found = json.loads((table.schema.metadata or {}).get(b"near_dedup", b"null"))
    if found != params:
        raise ValueError(
            f"near-dedup index {path} was made with {found}, this run uses {params}: "
            "indexes are only comparable with the same ngram, num_perm, seed, scheme, bands, rows"
        )
    columns = table.to_pydict()
    for doc_id, source_file, bands, sig in zip(
        columns["id"],
        columns["source_file"],
        columns["band_hashes"],
        columns["signature"],
        strict=True,
    ):
        signature = np.asarray(sig, dtype="<u4").tobytes()
        yield Node(history_rank(doc_id, source_file), None, signature, tuple(bands))
