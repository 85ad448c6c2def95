"""The near-dedup PTransforms: MinHash LSH candidates, verified edges, connected components.

    docs -> signatures + band hashes (vectorized batches)            "Signatures"
         -> (band, rank) -> buckets of >= 2 members                   "Buckets"
         -> + signatures of bucket members -> verified edges          "Edges"
         -> connected components (unrolled large/small-star rounds)   "Components"
         -> every document with its cluster id and whether it survives

Nothing is ever grouped on one key for all documents: buckets are keyed by band hash,
component rounds by node; only the edges the rounds leave unsettled (usually none) are
finished on one worker. A node is a document's survivor rank (see
`near_survivor_rank`), so a component's minimum is its survivor and no extra step picks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam

from schemas.document import Document, document_digest, pickled_by_fields
from transforms.common import CountingDoFn, SmallGroupings
from transforms.near_dedup.components import (
    UNSETTLED,
    component_minima,
    labels,
    large_star,
    normalized,
    settle,
    small_star,
)
from transforms.near_dedup.config import NearDedupConfig, rank_nan
from transforms.near_dedup.history import HISTORY_CLASS, index_bytes, matching_files, read_index
from transforms.near_dedup.lsh import band_hashes, bucket_edges
from transforms.near_dedup.minhash import MinHasher
from transforms.near_dedup.node import Node, rank_doc_id
from transforms.stage import Stage
from transforms.write import WriteSharded

STAGE = "near_dedup"
DROP_NEAR_DUP = "near_dup"
INDEX_TARGET_BYTES = 64 << 20


@pickled_by_fields
@dataclass(slots=True)
class Assignment:
    """A document's clustering outcome: `cluster_id` is the id of its cluster's survivor
    (its own id when it survives; an earlier run's document's id when that one won);
    `signature` is little-endian uint32 bytes, `band_hashes` its LSH band hashes."""

    doc: Document
    cluster_id: str
    kept: bool
    signature: bytes
    band_hashes: tuple[int, ...]


def near_survivor_rank(doc: Document, score_key: str | None) -> tuple:
    """Rank of a document among its near duplicates (its node in the clustering graph).
    Smaller wins: a document with a `score_key` score beats one without, a higher score
    a lower one, then the smaller id, then the smaller source file, source and content
    digest (copies of a page in two crawls share an id: arrival order must not pick).
    Earlier runs' documents (class -1) beat all of these."""
    tie_break = (doc.id, doc.source_file, doc.source, document_digest(doc))
    if score_key is not None:
        value = doc.scores.get(score_key)
        if not rank_nan(value):
            return (0, 0.0 - float(value), *tie_break)
    return (1, 0.0, *tie_break)


class _Signatures(beam.DoFn):
    """Batches of Documents -> a Node per document."""

    def __init__(self, config: NearDedupConfig):
        self.config = config

    def setup(self):
        c = self.config
        self._hasher = MinHasher(c.num_perm, c.seed, c.scheme, c.ngram)
        self._bands = c.band_rows

    def process(self, batch):
        signatures = self._hasher.signatures([d.text for d in batch])
        bands = band_hashes(signatures, *self._bands)
        stored = signatures.astype("<u4")
        for doc, signature, hashes in zip(batch, stored, bands, strict=True):
            rank = near_survivor_rank(doc, self.config.survivor_score)
            yield Node(rank, doc, signature.tobytes(), tuple(int(h) for h in hashes))


def _band_members(node: Node):
    return [((band, h), node.rank) for band, h in enumerate(node.band_hashes)]


def _bucket(ranks) -> list:
    """A bucket's distinct ranks in order, or [] when it cannot yield an edge."""
    ranks = sorted(set(ranks))
    if len(ranks) < 2 or ranks[-1][0] == HISTORY_CLASS:
        return []
    return ranks


def _star_edges(key, ranks):
    ranks = _bucket(ranks)
    return [(ranks[0], r) for r in ranks[1:] if r[0] != HISTORY_CLASS]


def _candidates(key, ranks):
    return [(rank, key) for rank in _bucket(ranks)]


def _with_signature(rank, joined):
    signatures = list(joined["signature"])
    return [(key, (rank, signatures[0])) for key in joined["bucket"]] if signatures else []


class ConnectedComponents(SmallGroupings):
    """Edges (node, node) -> (node, component minimum) for every node on an edge.

    `max_rounds` unrolled large-star + small-star rounds, each grouped by node; then every
    node settles itself, and what is not yet a star forest is finished on one worker
    (components.py). Exact whatever `max_rounds` is. Its groupings hold only edges between
    near-duplicates' ranks (SmallGroupings).
    """

    def __init__(self, max_rounds: int):
        super().__init__()
        self.max_rounds = max_rounds

    def expand(self, edges):
        edges = edges | "Normalize" >> beam.Map(normalized)
        for i in range(self.max_rounds):
            edges = (
                edges
                | f"Round{i:02d}/BothWays" >> beam.FlatMap(_both_ways)
                | f"Round{i:02d}/Neighbours" >> beam.GroupByKey()
                | f"Round{i:02d}/LargeStar" >> beam.FlatMapTuple(large_star)
                | f"Round{i:02d}/ByLarger" >> beam.Map(lambda e: (e[1], e[0]))
                | f"Round{i:02d}/SmallerNeighbours" >> beam.GroupByKey()
                | f"Round{i:02d}/SmallStar" >> beam.FlatMapTuple(small_star)
            )
        settled = (
            edges
            | "Settle/BothWays" >> beam.FlatMap(_both_ways)
            | "Settle/Neighbours" >> beam.GroupByKey()
            | "Settle/Nodes" >> beam.FlatMapTuple(settle)
        )
        finished = (
            settled
            | "Finish/Unsettled" >> beam.Filter(lambda kv: kv[0] is UNSETTLED)
            | "Finish/OneWorker" >> beam.GroupByKey()
            | "Finish/Minima" >> beam.FlatMapTuple(lambda _, edges: component_minima(edges))
        )
        return (
            {
                "settled": settled | "Settle/Keyed" >> beam.Filter(_is_settled),
                "finished": finished,
            }
            | "Labels/Join" >> beam.CoGroupByKey()
            | "Labels/Nodes"
            >> beam.FlatMapTuple(lambda node, j: labels(node, j["settled"], j["finished"]))
        )


def _both_ways(edge: tuple) -> list[tuple]:
    return [edge, (edge[1], edge[0])]


def _is_settled(keyed: tuple) -> bool:
    return keyed[0] is not UNSETTLED


def _assign(rank, joined):
    roots = list(joined["root"])
    root = roots[0] if roots else rank
    for node in joined["node"]:
        yield Assignment(
            node.doc, rank_doc_id(root), root == rank, node.signature, node.band_hashes
        )


class ClusterDocs(beam.PTransform):
    """Documents -> one Assignment per document (see the module docstring)."""

    def __init__(self, config: NearDedupConfig | None = None):
        super().__init__()
        self.config = config or NearDedupConfig()

    def expand(self, docs):
        c = self.config
        nodes = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=c.batch_size)
            | "Signatures" >> beam.ParDo(_Signatures(c))
        )
        every_node = nodes
        if c.index_input:
            params = c.index_params()
            history = (
                docs.pipeline
                | "History/Patterns" >> beam.Create(sorted(c.index_input))
                | "History/Files" >> beam.FlatMap(matching_files)
                | "History/Spread" >> beam.Reshuffle()
                | "History/Read" >> beam.FlatMap(read_index, params)
            )
            every_node = (nodes, history) | "WithHistory" >> beam.Flatten()
        buckets = (
            every_node
            | "Buckets/Members" >> beam.FlatMap(_band_members)
            | "Buckets/Group" >> beam.GroupByKey()
        )
        if c.verify:
            candidates = buckets | "Buckets/Candidates" >> beam.FlatMapTuple(_candidates)
            signatures = every_node | "Edges/Signatures" >> beam.Map(
                lambda n: (n.rank, n.signature)
            )
            edges = (
                {"signature": signatures, "bucket": candidates}
                | "Edges/JoinSignatures" >> beam.CoGroupByKey()
                | "Edges/ByBucket" >> beam.FlatMapTuple(_with_signature)
                | "Edges/Group" >> beam.GroupByKey()
                | "Edges/Verify"
                >> beam.FlatMapTuple(
                    lambda _, members: bucket_edges(members, c.threshold, c.max_bucket_compare)
                )
            )
        else:
            edges = buckets | "Edges/Stars" >> beam.FlatMapTuple(_star_edges)
        roots = edges | "Components" >> ConnectedComponents(c.max_rounds)
        keyed = nodes | "KeyByRank" >> beam.Map(lambda n: (n.rank, n))
        return (
            {"node": keyed, "root": roots}
            | "JoinRoots" >> beam.CoGroupByKey()
            | "Assign" >> beam.FlatMapTuple(_assign)
        )


class WriteIndex(beam.PTransform):
    """Assignments -> the survivors' index under `directory` (index-*.parquet); -> file
    metadata. `_temporary/` is used next to `directory` (in its parent)."""

    def __init__(self, directory: str, config: NearDedupConfig):
        super().__init__()
        self.directory, self.config = directory.rstrip("/"), config

    def expand(self, assigned):
        parent, name = self.directory.rsplit("/", 1)
        params = self.config.index_params()

        def serialize(items):
            rows = [(a.doc.id, a.doc.source_file, a.band_hashes, a.signature) for a in items]
            return index_bytes(rows, params), {}

        return (
            assigned
            | "Survivors" >> beam.Filter(lambda a: a.kept)
            | "Write"
            >> WriteSharded(
                parent or "/",
                folder=name,
                prefix="index",
                extension="parquet",
                key=lambda a: (a.doc.id, a.doc.source_file, document_digest(a.doc)),
                weight=lambda a: len(a.signature) + 8 * len(a.band_hashes) + len(a.doc.id) + 1,
                serialize=serialize,
                target=INDEX_TARGET_BYTES,
            )
        )


class _Decide(CountingDoFn):
    stage = STAGE

    def process(self, assignment):
        if assignment.kept:
            yield self.keep(assignment.doc)
        else:
            yield self.reject(assignment.doc, DROP_NEAR_DUP, duplicate_of=assignment.cluster_id)


class NearDedup(beam.PTransform):
    """Documents -> the survivor of every near-duplicate cluster as a Document, the rest as
    Rejected(reason=near_dup). Writes the survivors' index when `index_output` is set."""

    def __init__(self, config: NearDedupConfig | None = None):
        super().__init__()
        self.config = config or NearDedupConfig()

    def expand(self, docs):
        assigned = docs | "Cluster" >> ClusterDocs(self.config)
        if self.config.index_output:
            _ = assigned | "Index" >> WriteIndex(self.config.index_output, self.config)
        return assigned | "Decide" >> beam.ParDo(_Decide())


NEAR_DEDUP = Stage(STAGE, NearDedupConfig.from_dict, NearDedup)
