"""A document as a node of the near-duplicate graph. Beam-free.

A node's `rank` is a tuple that orders nodes totally, smallest first: (class, -score, id,
...) from `near_survivor_rank` for this run's documents, (HISTORY_CLASS, 0.0, id,
source_file) from `history_rank` for an earlier run's survivors. A component's minimum rank
is its survivor, and the rank alone identifies a node in every grouping step.
"""

from __future__ import annotations

from typing import NamedTuple

from schemas.document import Document

RANK_ID = 2  # where a rank holds the document id


class Node(NamedTuple):
    """A document with its survivor rank, MinHash signature (little-endian uint32 bytes) and
    LSH band hashes; `doc` is None for a document of an earlier run's index."""

    rank: tuple
    doc: Document | None
    signature: bytes
    band_hashes: tuple[int, ...]


def rank_doc_id(rank: tuple) -> str:
    """The id of the document a rank belongs to (a cluster is named after its survivor)."""
    return rank[RANK_ID]
